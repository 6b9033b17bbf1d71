using System.Text.Json;
using System.Text.Json.Nodes;
using Qwen3Gen.Inference;
using Qwen3Gen.Sampling;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Sample.Serving;

/// <summary>What /v1/chat/completions and /v1/completions share: sampling, limits, stop strings, streaming.</summary>
internal sealed record CompletionSettings
{
    public required SamplingOptions Sampling { get; init; }
    public ulong? Seed { get; init; }
    public int? MaxTokens { get; init; }
    public IReadOnlyList<string>? Stop { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
}

/// <summary>A parsed /v1/chat/completions body.</summary>
internal sealed record ChatCompletionRequest(List<ChatMessage> Messages, List<JsonNode>? Tools, bool? EnableThinking, CompletionSettings Settings);

/// <summary>A parsed /v1/completions body: text or token ids.</summary>
internal sealed record TextCompletionRequest(string? Prompt, int[]? PromptIds, CompletionSettings Settings);

/// <summary>
/// Reads the OpenAI request bodies. Fields the server cannot honour (n &gt; 1, logprobs, tool_choice "required",
/// JSON response formats, non-text content parts) are refused with a 400 naming them rather than ignored;
/// fields that do not change the output (user, metadata, ...) are ignored. Sampling defaults come from the
/// snapshot's generation_config.json, as vLLM does.
/// </summary>
internal static class CompletionRequests
{
    public static ChatCompletionRequest ParseChat(JsonElement body, GenerationConfig defaults)
    {
        var r = RequestReader.Root(body);
        var messagesElement = r.Array("messages") ?? throw ApiException.Invalid("messages", "'messages' is required: an array of {role, content} objects.");
        var messages = new List<ChatMessage>();
        int i = 0;
        foreach (var m in messagesElement.EnumerateArray()) messages.Add(ParseMessage(m, $"messages[{i++}]"));
        if (messages.Count == 0) throw ApiException.Invalid("messages", "'messages' is empty: give at least one message.");

        List<JsonNode>? tools = null;
        if (r.Array("tools") is { } toolArray)
        {
            tools = [];
            int t = 0;
            foreach (var tool in toolArray.EnumerateArray()) tools.Add(ParseTool(tool, $"tools[{t++}]"));
        }
        if (r.Get("tool_choice") is { } choice)
        {
            string? mode = choice.ValueKind == JsonValueKind.String ? choice.GetString() : null;
            if (mode == "none") tools = null;                   // the model is not told about the tools
            else if (mode != "auto")
                throw ApiException.Invalid("tool_choice", $"'tool_choice' {(mode is null ? "as an object" : $"'{mode}'")} is not supported (no constrained decoding): use \"auto\" or \"none\".");
        }
        bool? thinking = r.Object("chat_template_kwargs")?.Bool("enable_thinking");
        if (r.Object("response_format") is { } format && format.String("type") is { } type && type != "text")
            throw ApiException.Invalid("response_format.type", $"'response_format.type' '{type}' is not supported (no constrained decoding): use \"text\".");
        bool thinkingMode = ChatThinkingMode.IsThinking(messages, thinking);
        // Qwen3's advice: temperature 0.7, top-p 0.8 when not thinking (generation_config.json holds the thinking values).
        var sampling = thinkingMode || !defaults.DoSample ? defaults
            : defaults with { Temperature = GenerationConfig.Qwen3NonThinking.Temperature, TopP = GenerationConfig.Qwen3NonThinking.TopP };
        return new ChatCompletionRequest(messages, tools is { Count: > 0 } ? tools : null, thinking, Settings(r, sampling, "max_completion_tokens"));
    }

    public static TextCompletionRequest ParseCompletion(JsonElement body, GenerationConfig defaults, int vocab)
    {
        var r = RequestReader.Root(body);
        var p = r.Get("prompt") ?? throw ApiException.Invalid("prompt", "'prompt' is required: a string or an array of token ids.");
        if (r.Bool("echo") == true) throw ApiException.Invalid("echo", "'echo' is not supported.");
        if (r.Has("suffix")) throw ApiException.Invalid("suffix", "'suffix' is not supported.");
        string? text = null;
        int[]? ids = null;
        if (p.ValueKind == JsonValueKind.String) text = p.GetString();
        else if (p.ValueKind == JsonValueKind.Array)
        {
            var items = p.EnumerateArray().ToList();
            if (items.Count == 1 && items[0].ValueKind == JsonValueKind.String) text = items[0].GetString();
            else
            {
                ids = new int[items.Count];
                for (int i = 0; i < items.Count; i++)
                {
                    if (items[i].ValueKind != JsonValueKind.Number || !items[i].TryGetInt32(out int id))
                        throw ApiException.Invalid($"prompt[{i}]", $"'prompt[{i}]' must be a token id (an integer); a batch of several prompts is not supported.");
                    if ((uint)id >= (uint)vocab) throw ApiException.Invalid($"prompt[{i}]", $"'prompt[{i}]' is {id}, outside the vocabulary [0, {vocab}).");
                    ids[i] = id;
                }
            }
        }
        else throw r.Expected("prompt", "a string or an array of token ids", p);
        if ((text is not null && text.Length == 0) || ids is { Length: 0 }) throw ApiException.Invalid("prompt", "'prompt' is empty.");
        return new TextCompletionRequest(text, ids, Settings(r, defaults, null));
    }

    private static CompletionSettings Settings(RequestReader r, GenerationConfig d, string? maxAlias)
    {
        if (r.Integer("n", 1, 1) is not null and not 1) throw ApiException.Invalid("n", "'n' must be 1.");
        if (r.Bool("logprobs") == true || r.Has("top_logprobs") && r.Get("top_logprobs")!.Value.ValueKind != JsonValueKind.Number)
            throw ApiException.Invalid("logprobs", "'logprobs' is not supported.");
        if (r.Get("logprobs") is { ValueKind: JsonValueKind.Number }) throw ApiException.Invalid("logprobs", "'logprobs' is not supported.");
        var s = d.DoSample
            ? new SamplingOptions { Temperature = d.Temperature, TopK = d.TopK, TopP = d.TopP, MinP = d.MinP, RepetitionPenalty = d.RepetitionPenalty }
            : SamplingOptions.Greedy with { RepetitionPenalty = d.RepetitionPenalty };
        if (r.Number("temperature", 0, 2) is float t) s = s with { Temperature = t };
        if (r.Number("top_p", 0, 1, minExclusive: true) is float p) s = s with { TopP = p };
        if (r.Integer("top_k", -1, int.MaxValue) is long k) s = s with { TopK = k <= 0 ? 0 : (int)k };
        if (r.Number("min_p", 0, 1) is float minP) s = s with { MinP = minP };
        if (r.Number("presence_penalty", -2, 2) is float pp) s = s with { PresencePenalty = pp };
        if (r.Number("frequency_penalty", -2, 2) is float fp) s = s with { FrequencyPenalty = fp };
        if (r.Number("repetition_penalty", 0, 100, minExclusive: true) is float rp) s = s with { RepetitionPenalty = rp };
        ulong? seed = r.Integer("seed", long.MinValue, long.MaxValue) is long sd ? unchecked((ulong)sd) : null;
        long? max = r.Integer("max_tokens", 1, int.MaxValue);
        if (maxAlias is not null && r.Integer(maxAlias, 1, int.MaxValue) is long alias) max = alias;
        IReadOnlyList<string>? stop = null;
        if (r.Get("stop") is { } stopElement)
        {
            if (stopElement.ValueKind == JsonValueKind.String) stop = [stopElement.GetString()!];
            else if (stopElement.ValueKind == JsonValueKind.Array)
            {
                var list = new List<string>();
                int i = 0;
                foreach (var e in stopElement.EnumerateArray())
                {
                    if (e.ValueKind != JsonValueKind.String) throw ApiException.Invalid($"stop[{i}]", $"'stop[{i}]' must be a string, got {RequestReader.Kind(e)}.");
                    list.Add(e.GetString()!);
                    i++;
                }
                if (list.Count > 16) throw ApiException.Invalid("stop", $"'stop' has {list.Count} strings; at most 16.");
                stop = list;
            }
            else throw r.Expected("stop", "a string or an array of strings", stopElement);
            if (stop.Any(x => x.Length == 0)) throw ApiException.Invalid("stop", "'stop' strings must not be empty.");
        }
        bool stream = r.Bool("stream") ?? false;
        bool usage = r.Object("stream_options")?.Bool("include_usage") ?? false;
        return new CompletionSettings { Sampling = s, Seed = seed, MaxTokens = (int?)max, Stop = stop, Stream = stream, IncludeUsage = usage };
    }

    private static ChatMessage ParseMessage(JsonElement e, string path)
    {
        if (e.ValueKind != JsonValueKind.Object) throw ApiException.Invalid(path, $"'{path}' must be an object, got {RequestReader.Kind(e)}.");
        var m = new RequestReader(e, path);
        string role = m.String("role") ?? throw ApiException.Invalid(m.Name("role"), $"'{m.Name("role")}' is required.");
        if (role == "developer") role = "system";
        if (role is not ("system" or "user" or "assistant" or "tool"))
            throw ApiException.Invalid(m.Name("role"), $"'{m.Name("role")}' is '{role}'; it must be system, developer, user, assistant or tool.");
        string? content = Content(m);
        if (content is null && role != "assistant") throw ApiException.Invalid(m.Name("content"), $"'{m.Name("content")}' is required for a {role} message.");
        List<ToolCall>? calls = null;
        if (m.Array("tool_calls") is { } callArray)
        {
            if (role != "assistant") throw ApiException.Invalid(m.Name("tool_calls"), $"'{m.Name("tool_calls")}' is only allowed on assistant messages.");
            calls = [];
            int i = 0;
            foreach (var c in callArray.EnumerateArray()) calls.Add(ParseCall(c, $"{path}.tool_calls[{i++}]"));
        }
        return new ChatMessage(role, content)
        {
            ReasoningContent = role == "assistant" ? m.String("reasoning_content") : null,
            ToolCalls = calls,
            Name = m.String("name"),
        };
    }

    /// <summary>content: a string, or an array of {type: "text", text} parts (concatenated).</summary>
    private static string? Content(RequestReader m)
    {
        if (m.Get("content") is not { } c) return null;
        if (c.ValueKind == JsonValueKind.String) return c.GetString();
        if (c.ValueKind != JsonValueKind.Array) throw m.Expected("content", "a string or an array of text parts", c);
        var text = new System.Text.StringBuilder();
        int i = 0;
        foreach (var part in c.EnumerateArray())
        {
            string path = $"{m.Name("content")}[{i++}]";
            if (part.ValueKind != JsonValueKind.Object) throw ApiException.Invalid(path, $"'{path}' must be an object, got {RequestReader.Kind(part)}.");
            var p = new RequestReader(part, path);
            string type = p.String("type") ?? "text";
            if (type != "text") throw ApiException.Invalid(p.Name("type"), $"'{p.Name("type")}' is '{type}': only text parts are supported.");
            text.Append(p.String("text") ?? throw ApiException.Invalid(p.Name("text"), $"'{p.Name("text")}' is required."));
        }
        return text.ToString();
    }

    /// <summary>{id, type: "function", function: {name, arguments: JSON text}} → the template's tool call (arguments as an object when they parse).</summary>
    private static ToolCall ParseCall(JsonElement e, string path)
    {
        if (e.ValueKind != JsonValueKind.Object) throw ApiException.Invalid(path, $"'{path}' must be an object, got {RequestReader.Kind(e)}.");
        var f = new RequestReader(e, path).Object("function") ?? throw ApiException.Invalid($"{path}.function", $"'{path}.function' is required.");
        string name = f.String("name") ?? throw ApiException.Invalid(f.Name("name"), $"'{f.Name("name")}' is required.");
        JsonNode? args = null;
        if (f.Get("arguments") is { } a)
        {
            if (a.ValueKind == JsonValueKind.String)
            {
                string text = a.GetString()!;
                try { args = JsonNode.Parse(text) is JsonObject o ? o : JsonValue.Create(text); }
                catch (JsonException) { args = JsonValue.Create(text); }
            }
            else if (a.ValueKind == JsonValueKind.Object) args = JsonNode.Parse(a.GetRawText());
            else throw f.Expected("arguments", "a JSON string", a);
        }
        return new ToolCall(name, args ?? new JsonObject());
    }

    /// <summary>{type: "function", function: {name, description?, parameters?}}, passed to the template as given.</summary>
    private static JsonNode ParseTool(JsonElement e, string path)
    {
        if (e.ValueKind != JsonValueKind.Object) throw ApiException.Invalid(path, $"'{path}' must be an object, got {RequestReader.Kind(e)}.");
        var t = new RequestReader(e, path);
        string type = t.String("type") ?? "function";
        if (type != "function") throw ApiException.Invalid(t.Name("type"), $"'{t.Name("type")}' is '{type}': only function tools are supported.");
        var f = t.Object("function") ?? throw ApiException.Invalid(t.Name("function"), $"'{t.Name("function")}' is required.");
        string name = f.String("name") ?? throw ApiException.Invalid(f.Name("name"), $"'{f.Name("name")}' is required.");
        if (name.Length == 0) throw ApiException.Invalid(f.Name("name"), $"'{f.Name("name")}' is empty.");
        f.String("description");
        f.Object("parameters");
        return JsonNode.Parse(e.GetRawText())!;
    }
}
