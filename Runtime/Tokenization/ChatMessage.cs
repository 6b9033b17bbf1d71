using System.Text.Json;
using System.Text.Json.Nodes;

namespace Qwen3Gen.Tokenization;

/// <summary>One turn of a conversation, as in transformers' <c>messages</c>: role "system", "user", "assistant" or "tool".</summary>
/// <param name="Role">"system", "user", "assistant" or "tool" (other roles are skipped, as the Jinja template does).</param>
/// <param name="Content">The text; null is rendered as "".</param>
public sealed record ChatMessage(string Role, string? Content)
{
    /// <summary>An assistant turn's reasoning; when null, a &lt;think&gt;...&lt;/think&gt; block in <see cref="Content"/> is used.</summary>
    public string? ReasoningContent { get; init; }

    /// <summary>An assistant turn's tool calls.</summary>
    public IReadOnlyList<ToolCall>? ToolCalls { get; init; }

    /// <summary>Optional name (tool name of a tool turn); the Qwen3 template does not render it.</summary>
    public string? Name { get; init; }

    public static ChatMessage System(string content) => new("system", content);
    public static ChatMessage User(string content) => new("user", content);
    public static ChatMessage Assistant(string content, string? reasoning = null, IReadOnlyList<ToolCall>? toolCalls = null)
        => new("assistant", content) { ReasoningContent = reasoning, ToolCalls = toolCalls };
    public static ChatMessage Tool(string content, string? name = null) => new("tool", content) { Name = name };

    /// <summary>Reads a transformers-style message object: role, content, reasoning_content, tool_calls, name.</summary>
    public static ChatMessage FromJson(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new FormatException($"A chat message must be a JSON object, got {e.ValueKind}.");
        if (!e.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
            throw new FormatException("A chat message needs a string \"role\".");
        List<ToolCall>? calls = null;
        if (e.TryGetProperty("tool_calls", out var tc) && tc.ValueKind == JsonValueKind.Array)
            calls = tc.EnumerateArray().Select(ToolCall.FromJson).ToList();
        return new ChatMessage(role.GetString()!, OptionalString(e, "content"))
        {
            ReasoningContent = OptionalString(e, "reasoning_content"),
            ToolCalls = calls,
            Name = OptionalString(e, "name"),
        };
    }

    static string? OptionalString(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw new FormatException($"Chat message field \"{name}\" must be a string, got {v.ValueKind}.");
        return v.GetString();
    }
}

/// <summary>
/// A function call made by the assistant. <see cref="Arguments"/> is a JSON object (rendered with
/// Python's json.dumps layout) or a JSON string (rendered verbatim, as the template does).
/// </summary>
public sealed record ToolCall(string Name, JsonNode? Arguments)
{
    /// <summary>Reads {"type": "function", "function": {"name", "arguments"}} or {"name", "arguments"}.</summary>
    public static ToolCall FromJson(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new FormatException($"A tool call must be a JSON object, got {e.ValueKind}.");
        var f = e.TryGetProperty("function", out var fn) && fn.ValueKind == JsonValueKind.Object ? fn : e;
        if (!f.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
            throw new FormatException("A tool call needs a string \"name\".");
        JsonNode? args = f.TryGetProperty("arguments", out var a) ? JsonNode.Parse(a.GetRawText()) : null;
        return new ToolCall(name.GetString()!, args);
    }
}
