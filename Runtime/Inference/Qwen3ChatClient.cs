using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using Qwen3Gen.Sampling;
using Qwen3Gen.Tokenization;
using AI = Microsoft.Extensions.AI;
using QwenMessage = Qwen3Gen.Tokenization.ChatMessage;

namespace Qwen3Gen.Inference;

/// <summary>
/// A loaded Qwen3 model as a Microsoft.Extensions.AI <see cref="IChatClient"/>. Each request renders the messages
/// with the Qwen3 chat template and reuses the KV cache of the prefix it shares with the previous request, so a
/// client that resends a growing conversation only pays for the new turns. One request runs at a time (others wait).
/// <para>
/// ChatOptions → sampler: Temperature (0 = greedy), TopP, TopK, Seed, PresencePenalty, FrequencyPenalty, MaxOutputTokens,
/// StopSequences. Unset fields take Qwen3's recommended defaults for the turn's mode (<see cref="SamplingOptions.QwenThinking"/>
/// or <see cref="SamplingOptions.QwenNonThinking"/>); FrequencyPenalty too. ResponseFormat JSON and ConversationId are not supported either.
/// Tools: the functions of ChatOptions.Tools are rendered into the template's tools block; the reply's
/// <c>&lt;tool_call&gt;</c> blocks come back as <see cref="FunctionCallContent"/> (finish reason ToolCalls), and
/// <see cref="FunctionCallContent"/> / <see cref="FunctionResultContent"/> in the history are rendered as the
/// template's tool calls and <c>&lt;tool_response&gt;</c> turns, so Microsoft.Extensions.AI's
/// FunctionInvokingChatClient can run the loop.
/// Thinking: <c>Reasoning.Effort = None</c> or <c>AdditionalProperties["enable_thinking"] = false</c> passes
/// enable_thinking=false to the template; otherwise the model thinks (and /think, /no_think in the text work).
/// The think block comes back as <see cref="TextReasoningContent"/>, the answer as <see cref="TextContent"/>;
/// <c>Reasoning.Output = None</c> leaves the reasoning out. Usage: input, cached input, output and reasoning tokens.
/// </para>
/// </summary>
public sealed class Qwen3ChatClient : IChatClient
{
    /// <summary>ChatOptions.AdditionalProperties key for the template's enable_thinking (a bool).</summary>
    public const string EnableThinkingKey = "enable_thinking";

    /// <summary>ChatOptions.AdditionalProperties key for min_p (a float in [0, 1]).</summary>
    public const string MinPKey = "min_p";

    /// <summary>ChatOptions.AdditionalProperties key for the repetition penalty (a float &gt; 0).</summary>
    public const string RepetitionPenaltyKey = "repetition_penalty";

    private readonly ChatEngine _engine;
    private readonly bool _ownsEngine;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ChatClientMetadata _metadata;

    /// <summary>A client over <paramref name="engine"/> (not disposed with the client unless <paramref name="ownsEngine"/>).</summary>
    public Qwen3ChatClient(ChatEngine engine, string? modelId = null, bool ownsEngine = false)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _engine = engine;
        _ownsEngine = ownsEngine;
        _metadata = new ChatClientMetadata("qwen3gen", null, modelId ?? engine.Model?.Name ?? "qwen3gen");
    }

    /// <summary>A client over a loaded snapshot, with a KV cache of <paramref name="contextLength"/> positions.</summary>
    public static Qwen3ChatClient Create(LoadedModel loaded, Qwen3Tokenizer tokenizer, int contextLength = 4096)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        return new Qwen3ChatClient(ChatEngine.Create(loaded, tokenizer, contextLength), loaded.Definition.Name, ownsEngine: true);
    }

    /// <summary>Most tokens per reply when ChatOptions.MaxOutputTokens is not set.</summary>
    public int DefaultMaxOutputTokens { get; init; } = 2048;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AI.ChatMessage> messages, ChatOptions? options = null,
                                                     CancellationToken cancellationToken = default)
    {
        var (conversation, thinking, request, showReasoning, tools) = Prepare(messages, options);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        ChatReply reply;
        try
        {
            reply = await Task.Run(() => _engine.Complete(conversation, thinking, request, null, cancellationToken, tools), cancellationToken)
                              .ConfigureAwait(false);
        }
        finally { _gate.Release(); }

        var contents = new List<AIContent>();
        if (showReasoning && reply.Thinking.Length > 0) contents.Add(new TextReasoningContent(reply.Thinking));
        int calls = 0;
        if (tools is null) contents.Add(new TextContent(reply.Answer));
        else
        {
            var (text, parsed) = ToolCallParser.Parse(reply.Answer);
            if (text is not null) contents.Add(new TextContent(text));
            foreach (var call in parsed) contents.Add(FunctionCall(call));
            calls = parsed.Count;
        }
        return new ChatResponse(new AI.ChatMessage(ChatRole.Assistant, contents))
        {
            ModelId = _metadata.DefaultModelId,
            FinishReason = calls > 0 && reply.Stop != StopReason.MaxTokens && reply.Stop != StopReason.ContextFull ? ChatFinishReason.ToolCalls : FinishReason(reply.Stop),
            Usage = Usage(reply),
            CreatedAt = DateTimeOffset.UtcNow,
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AI.ChatMessage> messages, ChatOptions? options = null,
                                                                                [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (conversation, thinking, request, showReasoning, tools) = Prepare(messages, options);
        string responseId = Guid.NewGuid().ToString("N");
        var channel = Channel.CreateUnbounded<ChatResponseUpdate>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        // Cancelled by the caller's token, or when the consumer stops enumerating early.
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task producer;
        try
        {
            producer = Task.Run(() =>
            {
                var parser = tools is null ? null : new ToolCallParser();
                var pieces = new List<AnswerPiece>();
                try
                {
                    var reply = _engine.Complete(conversation, thinking, request, chunk =>
                    {
                        if (chunk.Kind == ChatChunkKind.Thinking && !showReasoning) return;
                        if (chunk.Kind == ChatChunkKind.Answer && parser is not null)
                        {
                            parser.Push(chunk.Text, pieces);
                            WritePieces();
                            return;
                        }
                        AIContent content = chunk.Kind == ChatChunkKind.Thinking ? new TextReasoningContent(chunk.Text) : new TextContent(chunk.Text);
                        channel.Writer.TryWrite(Update([content]));
                    }, stop.Token, tools);
                    if (parser is not null)
                    {
                        parser.Finish(pieces);
                        WritePieces();
                    }
                    var last = Update([new UsageContent(Usage(reply))]);
                    last.FinishReason = parser is { Calls: > 0 } && reply.Stop != StopReason.MaxTokens && reply.Stop != StopReason.ContextFull
                        ? ChatFinishReason.ToolCalls : FinishReason(reply.Stop);
                    channel.Writer.TryWrite(last);
                    channel.Writer.TryComplete();
                }
                catch (Exception e) { channel.Writer.TryComplete(e); }

                void WritePieces()
                {
                    foreach (var piece in pieces)
                        channel.Writer.TryWrite(Update([piece.ToolCall is { } call ? FunctionCall(call) : new TextContent(piece.Text)]));
                    pieces.Clear();
                }
            }, CancellationToken.None);
        }
        catch
        {
            stop.Dispose();
            _gate.Release();
            throw;
        }

        try
        {
            await foreach (var update in channel.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
                yield return update;
        }
        finally
        {
            // The next request starts only once this one's producer has left the engine.
            stop.Cancel();
            await producer.ConfigureAwait(false);
            stop.Dispose();
            _gate.Release();
        }

        ChatResponseUpdate Update(IList<AIContent> contents) => new(ChatRole.Assistant, contents)
        {
            ResponseId = responseId,
            MessageId = responseId,
            ModelId = _metadata.DefaultModelId,
            CreatedAt = DateTimeOffset.UtcNow,
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType.IsInstanceOfType(_engine)) return _engine;
        if (_engine.Model is { } model && serviceType.IsInstanceOfType(model)) return model;
        return null;
    }

    public void Dispose()
    {
        if (_ownsEngine) _engine.Dispose();
        _gate.Dispose();
    }

    // ---- mapping ----

    private (List<QwenMessage> Conversation, bool? EnableThinking, ChatRequest Request, bool ShowReasoning, List<JsonNode>? Tools) Prepare(
        IEnumerable<AI.ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var conversation = Convert(messages, options?.Instructions);
        if (conversation.Count == 0) throw new ArgumentException("The conversation has no messages.", nameof(messages));

        bool? enableThinking = null;
        if (options?.Reasoning?.Effort is ReasoningEffort effort) enableThinking = effort != ReasoningEffort.None;
        if (options?.AdditionalProperties?.TryGetValue(EnableThinkingKey, out var et) == true)
            enableThinking = et switch
            {
                bool b => b,
                null => null,
                _ => throw new ArgumentException($"ChatOptions.AdditionalProperties[\"{EnableThinkingKey}\"] must be a bool, got {et.GetType().Name}."),
            };
        bool thinking = ChatThinkingMode.IsThinking(conversation, enableThinking);
        bool showReasoning = options?.Reasoning?.Output != ReasoningOutput.None;
        return (conversation, enableThinking, ToRequest(options, thinking), showReasoning, Tools(options));
    }

    /// <summary>
    /// The sampler and limits a <see cref="ChatOptions"/> asks for; unset fields take the Qwen3 defaults of the mode
    /// (<paramref name="thinking"/>). Throws <see cref="NotSupportedException"/> for what the sampler cannot do.
    /// </summary>
    public ChatRequest ToRequest(ChatOptions? options, bool thinking)
    {
        var s = thinking ? SamplingOptions.QwenThinking : SamplingOptions.QwenNonThinking;
        if (options is null) return new ChatRequest { Sampling = s, MaxNewTokens = DefaultMaxOutputTokens };
        if (options.ResponseFormat is ChatResponseFormatJson)
            throw new NotSupportedException("ChatOptions.ResponseFormat JSON is not supported (no constrained decoding).");
        if (options.Temperature is float t) s = s with { Temperature = t };
        if (options.TopP is float p) s = s with { TopP = p };
        if (options.TopK is int k) s = s with { TopK = k };
        if (options.PresencePenalty is float pp) s = s with { PresencePenalty = pp };
        if (options.FrequencyPenalty is float fp) s = s with { FrequencyPenalty = fp };
        if (options.AdditionalProperties is { } extra)
        {
            if (extra.TryGetValue(MinPKey, out var minP)) s = s with { MinP = ToFloat(minP, MinPKey) };
            if (extra.TryGetValue(RepetitionPenaltyKey, out var rep)) s = s with { RepetitionPenalty = ToFloat(rep, RepetitionPenaltyKey) };
        }
        ulong? seed = options.Seed is long seedValue ? unchecked((ulong)seedValue) : null;
        if (seed is ulong sd) s = s with { Seed = sd };
        if (options.MaxOutputTokens is < 1) throw new ArgumentException($"ChatOptions.MaxOutputTokens ({options.MaxOutputTokens}) must be at least 1.");
        var request = new ChatRequest
        {
            Sampling = s,
            Seed = seed,
            MaxNewTokens = options.MaxOutputTokens ?? DefaultMaxOutputTokens,
            StopStrings = options.StopSequences is { Count: > 0 } stops ? stops.ToArray() : null,
        };
        request.Validate();
        return request;
    }

    private static float ToFloat(object? value, string key) => value switch
    {
        float f => f,
        double d => (float)d,
        int i => i,
        decimal m => (float)m,
        _ => throw new ArgumentException($"ChatOptions.AdditionalProperties[\"{key}\"] must be a number, got {value?.GetType().Name ?? "null"}."),
    };

    /// <summary>
    /// Microsoft.Extensions.AI messages → template messages: text and reasoning contents; an assistant's
    /// <see cref="FunctionCallContent"/>s become its tool calls; each <see cref="FunctionResultContent"/> becomes a
    /// "tool" turn of its own (the template wraps it in &lt;tool_response&gt;). Other contents are refused.
    /// </summary>
    public static List<QwenMessage> Convert(IEnumerable<AI.ChatMessage> messages, string? instructions = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var result = new List<QwenMessage>();
        foreach (var m in messages)
        {
            ArgumentNullException.ThrowIfNull(m, nameof(messages));
            string role = m.Role == ChatRole.System ? "system"
                        : m.Role == ChatRole.User ? "user"
                        : m.Role == ChatRole.Assistant ? "assistant"
                        : m.Role == ChatRole.Tool ? "tool"
                        : throw new NotSupportedException($"Chat role '{m.Role}' is not supported (system, user, assistant, tool).");
            string? reasoning = null;
            var text = new System.Text.StringBuilder();
            List<ToolCall>? calls = null;
            List<QwenMessage>? results = null;
            foreach (var c in m.Contents)
            {
                switch (c)
                {
                    case TextReasoningContent r: reasoning = (reasoning ?? "") + r.Text; break;
                    case TextContent t: text.Append(t.Text); break;
                    case UsageContent: break;
                    case FunctionCallContent call:
                        (calls ??= []).Add(new ToolCall(call.Name, JsonSerializer.SerializeToNode(call.Arguments ?? new Dictionary<string, object?>(), AIJsonUtilities.DefaultOptions)));
                        break;
                    case FunctionResultContent r:
                        (results ??= []).Add(QwenMessage.Tool(ResultText(r.Result)));
                        break;
                    default: throw new NotSupportedException($"Message content of type {c.GetType().Name} is not supported: Qwen3ChatClient takes text, function calls and function results.");
                }
            }
            if (results is not null && text.Length == 0 && calls is null) { result.AddRange(results); continue; }
            if (results is not null) throw new NotSupportedException("A message mixes function results with other contents: send function results in their own (tool) message.");
            result.Add(new QwenMessage(role, text.ToString())
            {
                ReasoningContent = role == "assistant" ? reasoning : null,
                ToolCalls = role == "assistant" ? calls : null,
                Name = m.AuthorName,
            });
        }
        if (!string.IsNullOrEmpty(instructions))
        {
            if (result.Count > 0 && result[0].Role == "system")
                result[0] = result[0] with { Content = instructions + "\n\n" + result[0].Content };
            else result.Insert(0, QwenMessage.System(instructions));
        }
        return result;
    }

    private static readonly JsonSerializerOptions CompactJson = new(AIJsonUtilities.DefaultOptions) { WriteIndented = false };

    /// <summary>A function's result as the text of a tool turn: strings as they are, anything else as compact JSON.</summary>
    private static string ResultText(object? result) => result switch
    {
        null => "",
        string s => s,
        JsonElement e when e.ValueKind == JsonValueKind.String => e.GetString()!,
        _ => JsonSerializer.Serialize(result, CompactJson.GetTypeInfo(result.GetType())),
    };

    /// <summary>ChatOptions.Tools → the template's tool signatures: {"type": "function", "function": {name, description, parameters}}.</summary>
    private static List<JsonNode>? Tools(ChatOptions? options)
    {
        if (options?.Tools is not { Count: > 0 } tools) return null;
        var result = new List<JsonNode>();
        foreach (var tool in tools)
        {
            if (tool is not AIFunctionDeclaration f)
                throw new NotSupportedException($"Tool '{tool.Name}' ({tool.GetType().Name}) is not supported: Qwen3ChatClient takes functions.");
            var function = new JsonObject { ["name"] = f.Name };
            if (!string.IsNullOrEmpty(f.Description)) function["description"] = f.Description;
            function["parameters"] = JsonNode.Parse(f.JsonSchema.GetRawText());
            result.Add(new JsonObject { ["type"] = "function", ["function"] = function });
        }
        return result;
    }

    /// <summary>A parsed call → FunctionCallContent with its arguments as JSON values (the function invoker binds them).</summary>
    private static FunctionCallContent FunctionCall(ParsedToolCall call)
    {
        var arguments = new Dictionary<string, object?>();
        using (var doc = JsonDocument.Parse(call.ArgumentsJson))
            foreach (var p in doc.RootElement.EnumerateObject()) arguments[p.Name] = p.Value.Clone();
        return new FunctionCallContent(ParsedToolCall.NewId(), call.Name, arguments);
    }

    private static ChatFinishReason FinishReason(StopReason stop) => stop switch
    {
        StopReason.StopToken or StopReason.StopString => ChatFinishReason.Stop,
        _ => ChatFinishReason.Length,
    };

    // Reasoning tokens: <think> through </think> (or to the end when the reply stopped inside the block).
    private UsageDetails Usage(ChatReply reply)
    {
        var ids = reply.GeneratedIds;
        int open = Array.IndexOf(ids, _engine.Tokenizer.ThinkId), close = Array.IndexOf(ids, _engine.Tokenizer.ThinkEndId);
        long reasoning = open < 0 ? 0 : (close > open ? close + 1 : ids.Length) - open;
        return new UsageDetails
        {
            InputTokenCount = reply.PromptTokens,
            CachedInputTokenCount = reply.ReusedTokens,
            OutputTokenCount = ids.Length,
            ReasoningTokenCount = reasoning,
            TotalTokenCount = reply.PromptTokens + ids.Length,
        };
    }
}
