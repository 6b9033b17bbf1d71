using System.Text.Json;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Training;

/// <summary>
/// Chat training data: JSON lines of conversations, one object per line with a "messages" list (role, content, and
/// optionally reasoning_content / tool_calls / name, as the chat template reads them), rendered with the Qwen3 chat
/// template and tokenised. The loss is on the assistant's tokens only, as TRL's assistant_only_loss: for every
/// <c>&lt;|im_start|&gt;assistant\n</c> header, the ids after it up to and including the turn's <c>&lt;|im_end|&gt;</c>
/// (so the model learns to end its turn); system, user and tool turns, the headers and the newlines between turns get
/// label −100.
/// </summary>
public static class ChatData
{
    private const string AssistantHeader = "<|im_start|>assistant\n", TurnEnd = "<|im_end|>";

    /// <summary>True for a .jsonl file, or a file whose first non-blank character is '{'.</summary>
    public static bool IsJsonLines(string path)
    {
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)) return true;
        using var reader = new StreamReader(path);
        int c;
        while ((c = reader.Read()) >= 0)
            if (!char.IsWhiteSpace((char)c)) return c == '{';
        return false;
    }

    /// <summary>Reads every conversation of <paramref name="path"/>; errors name the file and line.</summary>
    public static List<TrainingExample> Load(string path, Qwen3Tokenizer tokenizer)
    {
        var examples = new List<TrainingExample>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            List<ChatMessage> messages;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("messages", out var list) || list.ValueKind != JsonValueKind.Array)
                    throw new FormatException("expected an object with a \"messages\" list");
                messages = list.EnumerateArray().Select(ChatMessage.FromJson).ToList();
            }
            catch (Exception e) when (e is JsonException or FormatException)
            {
                throw new InvalidDataException($"{path}, line {lineNumber}: {e.Message}", e);
            }
            if (!messages.Any(m => m.Role == "assistant"))
                throw new InvalidDataException($"{path}, line {lineNumber}: the conversation has no assistant message, so nothing to learn from.");
            try { examples.Add(Encode(tokenizer, messages)); }
            catch (InvalidDataException e) { throw new InvalidDataException($"{path}, line {lineNumber}: {e.Message}", e); }
        }
        if (examples.Count == 0) throw new InvalidDataException($"{path} holds no conversations.");
        return examples;
    }

    /// <summary>
    /// Renders <paramref name="messages"/> with the chat template and tokenises it in segments cut at the assistant
    /// spans, marking the ids of the spans as trained. The segments' ids must concatenate to the whole text's ids (they
    /// do when the cuts fall on token boundaries, which the special tokens around the spans guarantee unless the
    /// assistant's text starts with a newline that would merge with the header's); otherwise the conversation is refused.
    /// </summary>
    public static TrainingExample Encode(Qwen3Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages)
    {
        string text = ChatTemplate.Render(messages);
        var ids = new List<int>();
        var trained = new List<bool>();
        int position = 0;
        while (true)
        {
            int header = text.IndexOf(AssistantHeader, position, StringComparison.Ordinal);
            if (header < 0) break;
            int start = header + AssistantHeader.Length;
            int end = text.IndexOf(TurnEnd, start, StringComparison.Ordinal);
            end = end < 0 ? text.Length : end + TurnEnd.Length;
            Append(text[position..start], false);
            Append(text[start..end], true);
            position = end;
        }
        Append(text[position..], false);
        int[] whole = tokenizer.Encode(text);
        if (!whole.AsSpan().SequenceEqual(ids.ToArray()))
            throw new InvalidDataException("an assistant turn's first token merges with the turn header (does its content start with a newline?); strip the leading newline.");
        return new TrainingExample([.. ids], [.. trained]);

        void Append(string segment, bool isAssistant)
        {
            if (segment.Length == 0) return;
            foreach (int id in tokenizer.Encode(segment))
            {
                ids.Add(id);
                trained.Add(isAssistant);
            }
        }
    }
}
