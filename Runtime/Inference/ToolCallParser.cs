using System.Text;
using System.Text.Json;

namespace Qwen3Gen.Inference;

/// <summary>A function call the model wrote: its name and its arguments as JSON object text.</summary>
public sealed record ParsedToolCall(string Name, string ArgumentsJson)
{
    /// <summary>A fresh call id in OpenAI's style ("call_" + 24 hex digits).</summary>
    public static string NewId() => "call_" + Guid.NewGuid().ToString("N")[..24];
}

/// <summary>One piece of a reply's answer: text, or a complete tool call.</summary>
public readonly record struct AnswerPiece(string? Text, ParsedToolCall? ToolCall);

/// <summary>
/// Splits Qwen3's answer text into content and tool calls. Qwen3 (like Hermes) writes each call as
/// <c>&lt;tool_call&gt;\n{"name": "...", "arguments": {...}}\n&lt;/tool_call&gt;</c> (the format the chat template's
/// tools preamble asks for). Streaming: text is passed on as soon as it cannot be the start of
/// <c>&lt;tool_call&gt;</c>; a call is handed out whole once its closing tag arrives. A block whose JSON is not an object
/// with a string "name" stays content, verbatim (as vLLM's hermes parser does), so nothing the model wrote is lost.
/// Whitespace right before a call or at the very end is held back and dropped, so the streamed content equals the
/// non-streamed one.
/// </summary>
public sealed class ToolCallParser
{
    public const string Open = "<tool_call>", Close = "</tool_call>";

    private readonly StringBuilder _buffer = new();
    private bool _inside;

    /// <summary>Tool calls handed out so far.</summary>
    public int Calls { get; private set; }

    /// <summary>Adds answer text; appends the pieces that are now final.</summary>
    public void Push(string text, List<AnswerPiece> output)
    {
        _buffer.Append(text);
        Drain(output, final: false);
    }

    /// <summary>The end of the answer: emits what is held back (an unclosed block is a call if its JSON is complete, else text).</summary>
    public void Finish(List<AnswerPiece> output) => Drain(output, final: true);

    /// <summary>The whole answer at once: content (null when it is only whitespace) and the calls.</summary>
    public static (string? Content, List<ParsedToolCall> Calls) Parse(string answer)
    {
        var parser = new ToolCallParser();
        var pieces = new List<AnswerPiece>();
        parser.Push(answer, pieces);
        parser.Finish(pieces);
        var content = new StringBuilder();
        var calls = new List<ParsedToolCall>();
        foreach (var p in pieces)
            if (p.ToolCall is { } call) calls.Add(call);
            else content.Append(p.Text);
        string text = content.ToString();
        return (string.IsNullOrWhiteSpace(text) && calls.Count > 0 ? null : text, calls);
    }

    private void Drain(List<AnswerPiece> output, bool final)
    {
        while (true)
        {
            string s = _buffer.ToString();
            if (!_inside)
            {
                int open = s.IndexOf(Open, StringComparison.Ordinal);
                if (open >= 0)
                {
                    EmitText(s[..open].TrimEnd(), output);              // whitespace before a call is layout
                    _buffer.Remove(0, open + Open.Length);
                    _inside = true;
                    continue;
                }
                if (final)
                {
                    EmitText(s.TrimEnd(), output);
                    _buffer.Clear();
                    return;
                }
                // Hold back a possible start of "<tool_call>" and trailing whitespace (it may precede a call).
                int keep = HeldBack(s);
                int ws = s.Length - keep;
                while (ws > 0 && char.IsWhiteSpace(s[ws - 1])) ws--;
                EmitText(s[..ws], output);
                _buffer.Remove(0, ws);
                return;
            }
            int close = s.IndexOf(Close, StringComparison.Ordinal);
            if (close < 0 && !final) return;
            string inner = close >= 0 ? s[..close] : s;
            if (TryCall(inner) is { } call)
            {
                output.Add(new AnswerPiece(null, call));
                Calls++;
            }
            else EmitText(Open + inner + (close >= 0 ? Close : ""), output);
            _buffer.Remove(0, close >= 0 ? close + Close.Length : s.Length);
            _inside = false;
            if (close < 0) return;
        }
    }

    private static void EmitText(string text, List<AnswerPiece> output)
    {
        if (text.Length > 0) output.Add(new AnswerPiece(text, null));
    }

    /// <summary>Length of the longest suffix of <paramref name="s"/> that is a proper prefix of "&lt;tool_call&gt;".</summary>
    private static int HeldBack(string s)
    {
        for (int k = Math.Min(Open.Length - 1, s.Length); k > 0; k--)
            if (string.CompareOrdinal(s, s.Length - k, Open, 0, k) == 0) return k;
        return 0;
    }

    /// <summary>{"name": string, "arguments": object (or a JSON string holding one, or absent)} → a call; anything else → null.</summary>
    private static ParsedToolCall? TryCall(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
                return null;
            string args = "{}";
            if (root.TryGetProperty("arguments", out var a))
            {
                if (a.ValueKind == JsonValueKind.Object) args = a.GetRawText();
                else if (a.ValueKind == JsonValueKind.String)
                {
                    using var inner = JsonDocument.Parse(a.GetString()!);
                    if (inner.RootElement.ValueKind != JsonValueKind.Object) return null;
                    args = inner.RootElement.GetRawText();
                }
                else if (a.ValueKind != JsonValueKind.Null) return null;
            }
            return new ParsedToolCall(name.GetString()!, args);
        }
        catch (JsonException) { return null; }
    }
}
