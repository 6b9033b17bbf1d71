using Qwen3Gen.Sampling;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Inference;

/// <summary>What one <see cref="ChatSession.Send"/> produced.</summary>
/// <param name="Reply">The reply with its token counts and timings.</param>
/// <param name="Thinking">Whether the turn ran in thinking mode (enable_thinking and the latest soft switch).</param>
/// <param name="DroppedTurns">Oldest user turns (with their replies) dropped so the conversation fits the context.</param>
public sealed record ChatTurn(ChatReply Reply, bool Thinking, int DroppedTurns)
{
    public string Answer => Reply.Answer;
}

/// <summary>
/// A multi-turn chat with a Qwen3 model: keeps the history, renders it with the chat template each turn, reuses the
/// KV cache of the prefix it shares with the previous turn (<see cref="ChatEngine"/>), and streams the reply with
/// thinking apart from the answer. The history stores each answer with its reasoning; the template shows the
/// reasoning only for the turn after the last user message, as Qwen3's does. When the conversation no longer fits
/// the context (with room for a reply), the oldest turns are dropped, the system message kept, and a
/// <see cref="ChatChunkKind.Notice"/> says so.
/// </summary>
public sealed class ChatSession : IDisposable
{
    private readonly ChatEngine _engine;
    private readonly bool _ownsEngine;
    private readonly List<ChatMessage> _history = [];
    private bool _seeded;

    public ChatSession(IQwen3Model model, Qwen3Tokenizer tokenizer, ChatSessionOptions? options = null, IEnumerable<int>? stopIds = null)
        : this(CreateEngine(model, tokenizer, options ?? new(), stopIds), options, ownsEngine: true) { }

    /// <summary>A chat over an existing engine (and its cache); the engine is not disposed with the session.</summary>
    public ChatSession(ChatEngine engine, ChatSessionOptions? options = null)
        : this(engine, options, ownsEngine: false) { }

    private ChatSession(ChatEngine engine, ChatSessionOptions? options, bool ownsEngine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        Options = options ?? new();
        Options.Validate();
        if (Options.ContextLength != engine.ContextLength)
            Options = Options with { ContextLength = engine.ContextLength };
        _engine = engine;
        _ownsEngine = ownsEngine;
        Reset();
    }

    /// <summary>A chat over a loaded snapshot (stop ids from generation_config.json and the tokenizer).</summary>
    public static ChatSession Create(LoadedModel loaded, Qwen3Tokenizer tokenizer, ChatSessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        options ??= new();
        options.Validate();
        return new ChatSession(ChatEngine.Create(loaded, tokenizer, options.ContextLength, options.PrefillChunk, options.CacheFormat), options, ownsEngine: true);
    }

    private static ChatEngine CreateEngine(IQwen3Model model, Qwen3Tokenizer tokenizer, ChatSessionOptions options, IEnumerable<int>? stopIds)
    {
        options.Validate();
        return new ChatEngine(model, tokenizer, stopIds, options.ContextLength, options.PrefillChunk, options.CacheFormat);
    }

    public ChatSessionOptions Options { get; private set; }

    public ChatEngine Engine => _engine;

    /// <summary>The conversation so far: the system message (if any), then user and assistant turns.</summary>
    public IReadOnlyList<ChatMessage> History => _history;

    /// <summary>Changes enable_thinking for the next turns (see <see cref="ChatSessionOptions.EnableThinking"/>).</summary>
    public bool? EnableThinking
    {
        get => Options.EnableThinking;
        set => Options = Options with { EnableThinking = value };
    }

    /// <summary>Starts a new conversation (only the system message stays). The cache is kept: the system prompt is reused.</summary>
    public void Reset()
    {
        _history.Clear();
        if (Options.SystemPrompt is { } system) _history.Add(ChatMessage.System(system));
    }

    /// <summary>
    /// Adds <paramref name="userText"/> as a user turn and generates the reply, streaming it to <paramref name="onChunk"/>.
    /// The turn and its reply join the history only when the reply is complete: a message that does not fit the
    /// context even alone (<see cref="InvalidOperationException"/>) or a cancelled reply leaves the history as it was.
    /// </summary>
    public ChatTurn Send(string userText, Action<ChatChunk>? onChunk = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(userText);
        var conversation = new List<ChatMessage>(_history) { ChatMessage.User(userText) };
        var (prompt, dropped) = Fit(conversation, onChunk);

        bool thinking = ChatThinkingMode.IsThinking(conversation, Options.EnableThinking);
        var sampling = Options.Sampling ?? (thinking ? SamplingOptions.QwenThinking : SamplingOptions.QwenNonThinking);
        var request = new ChatRequest
        {
            Sampling = sampling,
            Seed = _seeded ? null : Options.Sampling?.Seed ?? Options.Seed,
            MaxNewTokens = Options.MaxNewTokens,
            StopStrings = Options.StopStrings,
        };
        var reply = _engine.Generate(prompt, request, separateThinking: true, onChunk, cancellationToken);
        _seeded = true;
        conversation.Add(ChatMessage.Assistant(reply.Answer, reasoning: reply.Thinking));
        _history.Clear();
        _history.AddRange(conversation);
        return new ChatTurn(reply, thinking, dropped);
    }

    // Renders the history; while it leaves less than the reply reserve free, drops the oldest user turn and
    // everything up to the next user turn (its reply, tool turns). The newest user turn is never dropped.
    private (int[] Prompt, int Dropped) Fit(List<ChatMessage> conversation, Action<ChatChunk>? onChunk)
    {
        int context = _engine.ContextLength, reserve = Options.EffectiveReserve;
        int dropped = 0, droppedMessages = 0;
        int[] prompt = _engine.Render(conversation, Options.EnableThinking);
        while (prompt.Length + reserve > context)
        {
            int first = conversation.FindIndex(m => m.Role != "system");
            int next = conversation.FindIndex(first + 1, m => m.Role == "user");
            if (first < 0 || next < 0) break;                    // only the newest user turn is left
            droppedMessages += next - first;
            conversation.RemoveRange(first, next - first);
            dropped++;
            prompt = _engine.Render(conversation, Options.EnableThinking);
        }
        if (prompt.Length >= context)
            throw new InvalidOperationException(
                $"The message does not fit: the prompt has {prompt.Length} tokens (system prompt and template included) " +
                $"but the context holds {context}. Send a shorter message or use a longer context.");
        if (dropped > 0)
            onChunk?.Invoke(new ChatChunk(ChatChunkKind.Notice,
                $"[history trimmed: dropped the {dropped} oldest turn{(dropped == 1 ? "" : "s")} ({droppedMessages} messages) to fit the {context}-token context]"));
        return (prompt, dropped);
    }

    public void Dispose()
    {
        if (_ownsEngine) _engine.Dispose();
    }
}
