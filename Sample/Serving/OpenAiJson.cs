using System.Buffers;
using System.Text.Json;
using Qwen3Gen.Inference;
using Qwen3Gen.Serving;

namespace Qwen3Gen.Sample.Serving;

/// <summary>The OpenAI response objects, written with <see cref="Utf8JsonWriter"/> (no reflection, field order as OpenAI's).</summary>
internal static class OpenAiJson
{
    public static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer)) body(w);
        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] Error(ApiException e) => Write(w =>
    {
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteString("message", e.Message);
        w.WriteString("type", e.Type);
        if (e.Param is null) w.WriteNull("param"); else w.WriteString("param", e.Param);
        if (e.Code is null) w.WriteNull("code"); else w.WriteString("code", e.Code);
        w.WriteEndObject();
        w.WriteEndObject();
    });

    public static string FinishReason(FinishReason reason, bool toolCalls) => reason switch
    {
        Qwen3Gen.Serving.FinishReason.Length => "length",
        _ when toolCalls => "tool_calls",
        _ => "stop",
    };

    public static void Usage(Utf8JsonWriter w, GenerationResult r)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", r.PromptTokens);
        w.WriteNumber("completion_tokens", r.GeneratedIds.Length);
        w.WriteNumber("total_tokens", r.PromptTokens + r.GeneratedIds.Length);
        w.WriteStartObject("prompt_tokens_details");
        w.WriteNumber("cached_tokens", r.CachedPromptTokens);
        w.WriteEndObject();
        w.WriteStartObject("completion_tokens_details");
        w.WriteNumber("reasoning_tokens", r.ReasoningTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static void Head(Utf8JsonWriter w, string id, string type, long created, string model)
    {
        w.WriteString("id", id);
        w.WriteString("object", type);
        w.WriteNumber("created", created);
        w.WriteString("model", model);
    }

    public static void ToolCall(Utf8JsonWriter w, ParsedToolCall call, string id, int? index)
    {
        w.WriteStartObject();
        if (index is int i) w.WriteNumber("index", i);
        w.WriteString("id", id);
        w.WriteString("type", "function");
        w.WriteStartObject("function");
        w.WriteString("name", call.Name);
        w.WriteString("arguments", call.ArgumentsJson);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>A whole chat.completion.</summary>
    public static byte[] ChatCompletion(string id, long created, string model, GenerationResult r, bool parseTools)
    {
        var (content, calls) = parseTools ? ToolCallParser.Parse(r.Answer) : (r.Answer, []);
        return Write(w =>
        {
            w.WriteStartObject();
            Head(w, id, "chat.completion", created, model);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteStartObject("message");
            w.WriteString("role", "assistant");
            if (content is null) w.WriteNull("content"); else w.WriteString("content", content);
            if (r.Thinking.Length > 0) w.WriteString("reasoning_content", r.Thinking);
            if (calls.Count > 0)
            {
                w.WriteStartArray("tool_calls");
                foreach (var c in calls) ToolCall(w, c, ParsedToolCall.NewId(), null);
                w.WriteEndArray();
            }
            w.WriteEndObject();
            w.WriteNull("logprobs");
            w.WriteString("finish_reason", FinishReason(r.Finish, calls.Count > 0));
            w.WriteEndObject();
            w.WriteEndArray();
            Usage(w, r);
            w.WriteEndObject();
        });
    }

    /// <summary>A whole text_completion.</summary>
    public static byte[] TextCompletion(string id, long created, string model, GenerationResult r) => Write(w =>
    {
        w.WriteStartObject();
        Head(w, id, "text_completion", created, model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteString("text", r.Answer);
        w.WriteNumber("index", 0);
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", FinishReason(r.Finish, false));
        w.WriteEndObject();
        w.WriteEndArray();
        Usage(w, r);
        w.WriteEndObject();
    });
}
