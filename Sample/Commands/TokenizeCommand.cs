using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen tokenize`: Qwen3 token ids of text, a file, or JSON lines on stdin; `--decode` turns ids back into text.
/// </summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var text = new Argument<string[]>("text") { Description = "Text to encode (several words are joined with spaces).", Arity = ArgumentArity.ZeroOrMore };
        var file = new Option<FileInfo?>("--file") { Description = "Encode the contents of this UTF-8 file." };
        var jsonl = new Option<bool>("--jsonl")
        {
            Description = "Read JSON lines on stdin: {\"text\": ...} -> {\"text\": ..., \"ids\": [...]}; a line with \"messages\" " +
                          "(and optional add_generation_prompt, enable_thinking, tools) is rendered with the Qwen3 chat template first.",
        };
        var decode = new Option<int[]>("--decode") { Description = "Decode these token ids to text.", AllowMultipleArgumentsPerToken = true };
        var skipSpecial = new Option<bool>("--skip-special") { Description = "With --decode: drop special tokens (<|im_end|> ...), keep <think> and the like." };
        var dir = new Option<DirectoryInfo?>("--tokenizer-dir") { Description = "Load tokenizer.json or vocab.json + merges.txt (+ tokenizer_config.json) from here instead of the bundled Qwen3 files." };
        var command = new Command("tokenize", "Encode text to Qwen3 token ids, or decode ids to text.") { text, file, jsonl, decode, skipSpecial, dir };
        command.SetAction(parse => Run(parse.GetValue(text) ?? [], parse.GetValue(file), parse.GetValue(jsonl),
                                       parse.GetValue(decode), parse.GetValue(skipSpecial), parse.GetValue(dir)));
        return command;
    }

    static readonly JsonWriterOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static int Run(string[] words, FileInfo? file, bool jsonl, int[]? decode, bool skipSpecial, DirectoryInfo? dir)
    {
        Qwen3Tokenizer tok;
        try { tok = dir is null ? Qwen3Tokenizer.Bundled : Qwen3Tokenizer.Load(dir.FullName); }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or JsonException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"tokenize: cannot load the tokenizer: {e.Message}");
            return 2;
        }

        int modes = (words.Length > 0 ? 1 : 0) + (file is not null ? 1 : 0) + (jsonl ? 1 : 0) + (decode is { Length: > 0 } ? 1 : 0);
        if (modes != 1)
        {
            Console.Error.WriteLine("tokenize: give exactly one of: TEXT, --file F, --jsonl (stdin), --decode ID...");
            return 2;
        }

        if (decode is { Length: > 0 })
        {
            foreach (int id in decode)
                if (!tok.HasToken(id))
                {
                    Console.Error.WriteLine($"tokenize: error: --decode {id}: not a token id of this vocabulary (ids 0..{tok.VocabSize - 1}, {tok.VocabSize - tok.TokenCount} of them without a token).");
                    return 2;
                }
            Console.Out.Write(tok.Decode(decode, skipSpecial));
            Console.Out.WriteLine();
            return 0;
        }
        if (jsonl) return RunJsonLines(tok);

        string input;
        if (file is not null)
        {
            try { input = RegularFiles.ReadAllText(file.FullName, "--file"); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"tokenize: error: {e.Message}");
                return 2;
            }
        }
        else input = string.Join(' ', words);
        int[] ids = tok.Encode(input);
        Console.Out.WriteLine(string.Join(' ', ids));
        Console.Error.WriteLine($"{ids.Length} tokens");
        return 0;
    }

    // One JSON object per input line; a bad line gets {"line": n, "error": ...} and exit code 1.
    static int RunJsonLines(Qwen3Tokenizer tok)
    {
        using var stdout = Console.OpenStandardOutput();
        int lineNo = 0, failures = 0;
        while (Console.In.ReadLine() is { } line)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var ms = new MemoryStream();
            try
            {
                using var doc = JsonDocument.Parse(line);
                var (text, ids) = EncodeLine(tok, doc.RootElement);
                using var w = new Utf8JsonWriter(ms, Relaxed);
                w.WriteStartObject();
                w.WriteString("text", text);
                w.WriteStartArray("ids");
                foreach (int id in ids) w.WriteNumberValue(id);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            catch (Exception e) when (e is JsonException or FormatException or ArgumentException or InvalidOperationException)
            {
                failures++;
                ms = new MemoryStream();
                using var w = new Utf8JsonWriter(ms, Relaxed);
                w.WriteStartObject();
                w.WriteNumber("line", lineNo);
                w.WriteString("error", e.Message);
                w.WriteEndObject();
            }
            ms.WriteByte((byte)'\n');
            stdout.Write(ms.GetBuffer(), 0, (int)ms.Length);
        }
        stdout.Flush();
        if (failures > 0) Console.Error.WriteLine($"tokenize: {failures} of {lineNo} lines failed");
        return failures > 0 ? 1 : 0;
    }

    static (string Text, int[] Ids) EncodeLine(Qwen3Tokenizer tok, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new FormatException("each line must be a JSON object");
        if (root.TryGetProperty("messages", out var messages))
        {
            if (messages.ValueKind != JsonValueKind.Array) throw new FormatException("\"messages\" must be an array");
            var msgs = messages.EnumerateArray().Select(ChatMessage.FromJson).ToList();
            bool addPrompt = root.TryGetProperty("add_generation_prompt", out var ap) && ap.ValueKind == JsonValueKind.True;
            bool? thinking = root.TryGetProperty("enable_thinking", out var et)
                ? et.ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => null }
                : null;
            List<JsonNode>? tools = root.TryGetProperty("tools", out var t) && t.ValueKind == JsonValueKind.Array
                ? t.EnumerateArray().Select(x => JsonNode.Parse(x.GetRawText())!).ToList()
                : null;
            string rendered = ChatTemplate.Render(msgs, addPrompt, thinking, tools);
            return (rendered, tok.Encode(rendered));
        }
        if (!root.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
            throw new FormatException("expected {\"text\": \"...\"} or {\"messages\": [...]}");
        string s = text.GetString()!;   // System.Text.Json refuses lone surrogates: an error line
        return (s, tok.Encode(s));
    }
}
