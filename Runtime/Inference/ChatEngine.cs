using System.Text.Json.Nodes;
using Qwen3Gen.Kernels;
using Qwen3Gen.Sampling;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Inference;

/// <summary>
/// One KV-cached decoding session plus a sampler, driven one reply at a time by a <see cref="TextGeneration"/>. Each call
/// renders (or takes) a prompt, keeps the cached keys and values of the longest common prefix with the ids already in the
/// cache, prefills only the rest, then samples until a stop id, a stop string, the token limit or the end of the context.
/// The ids become text through the generation's <see cref="TextStream"/> (thinking apart from the answer, stop strings).
/// A multi-turn chat re-renders the whole conversation every turn, so only the new user turn (and the previous
/// answer, whose think block the template drops once a newer user turn follows) is run through the model again.
/// Not thread-safe: one reply at a time.
/// </summary>
public sealed class ChatEngine : IDisposable
{
    private readonly TextGeneration _generation;
    private readonly int[] _stopIds;

    /// <param name="model">A model with its weights filled.</param>
    /// <param name="tokenizer">The Qwen3 tokenizer of the model's checkpoint.</param>
    /// <param name="stopIds">Ids that end a reply; default the tokenizer's (&lt;|im_end|&gt;, &lt;|endoftext|&gt;).</param>
    /// <param name="contextLength">Positions of the KV cache (prompt + reply), at most max_position_embeddings.</param>
    /// <param name="prefillChunk">Prompt tokens run through the model per forward pass.</param>
    /// <param name="cacheFormat">How the KV cache stores keys and values.</param>
    public ChatEngine(IQwen3Model model, Qwen3Tokenizer tokenizer, IEnumerable<int>? stopIds = null,
                      int contextLength = 4096, int prefillChunk = 128, KvCacheFormat cacheFormat = KvCacheFormat.F32)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        int vocab = model.Config.Vocab;
        if (tokenizer.VocabSize > vocab)
            throw new ArgumentException($"The tokenizer has {tokenizer.VocabSize} ids but the model's vocabulary is {vocab}: they do not belong together.", nameof(tokenizer));
        if (contextLength < 2 || contextLength > model.PositionLimit)
            throw new ArgumentOutOfRangeException(nameof(contextLength), contextLength,
                $"The context length must be in 2..{model.PositionLimit} (max_position_embeddings of {model.Name}, RoPE scaling {model.RopeScaling}).");
        Model = model;
        Tokenizer = tokenizer;
        _stopIds = CheckStopIds(stopIds ?? tokenizer.EosIds, vocab);
        _generation = new TextGeneration(model.CreateSession(contextLength, prefillChunk, cacheFormat), new Sampler(vocab, SamplingOptions.Greedy), tokenizer);
    }

    /// <summary>
    /// An engine over a session and a sampler made elsewhere, e.g. one rank of a tensor-parallel model: its session gives
    /// the rank's part of each logits row and <paramref name="sampler"/> is a <see cref="ShardedSampler"/> over the same
    /// ranks, so every rank runs this engine in step and picks the same tokens (<see cref="Model"/> is then null).
    /// </summary>
    public ChatEngine(IInferenceSession session, ITokenSampler sampler, Qwen3Tokenizer tokenizer, IEnumerable<int>? stopIds = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (session.Capacity < 2) throw new ArgumentOutOfRangeException(nameof(session), session.Capacity, "The session must hold at least 2 positions.");
        Tokenizer = tokenizer;
        _stopIds = CheckStopIds(stopIds ?? tokenizer.EosIds, sampler.Vocab);
        _generation = new TextGeneration(session, sampler, tokenizer);
    }

    private static int[] CheckStopIds(IEnumerable<int> stopIds, int vocab)
    {
        var ids = stopIds.Distinct().ToArray();
        foreach (int id in ids)
            if ((uint)id >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(stopIds), id, $"Stop id {id} is outside the vocabulary [0, {vocab}).");
        return ids;
    }

    /// <summary>
    /// An engine over a loaded snapshot: stops at generation_config.json's eos_token_id and the tokenizer's eos ids.
    /// </summary>
    public static ChatEngine Create(LoadedModel loaded, Qwen3Tokenizer tokenizer, int contextLength = 4096, int prefillChunk = 128,
                                    KvCacheFormat cacheFormat = KvCacheFormat.F32)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        ArgumentNullException.ThrowIfNull(tokenizer);
        return new ChatEngine(loaded.Model, tokenizer, loaded.Generation.EosTokenIds.Concat(tokenizer.EosIds), contextLength, prefillChunk, cacheFormat);
    }

    /// <summary>The model (null for an engine made from a session and a sampler).</summary>
    public IQwen3Model? Model { get; }

    public Qwen3Tokenizer Tokenizer { get; }

    /// <summary>Positions the KV cache holds (prompt + reply).</summary>
    public int ContextLength => _generation.Session.Capacity;

    public IReadOnlyList<int> StopIds => _stopIds;

    /// <summary>Ids whose keys and values are cached now (the last prompt and reply, minus the final sampled id).</summary>
    public IReadOnlyList<int> CachedIds => _generation.CachedTokens.ToArray();

    /// <summary>Renders a conversation with the Qwen3 chat template and the generation prompt (and the tools' signatures, if any).</summary>
    public int[] Render(IReadOnlyList<ChatMessage> messages, bool? enableThinking, IReadOnlyList<JsonNode>? tools = null) =>
        ChatTemplate.Encode(Tokenizer, messages, addGenerationPrompt: true, enableThinking, tools);

    /// <summary>Forgets the cache: the next call prefills its whole prompt.</summary>
    public void ClearCache() => _generation.ClearCache();

    /// <summary>Generates the assistant's reply to <paramref name="messages"/> (rendered with the template); thinking is separated.</summary>
    public ChatReply Complete(IReadOnlyList<ChatMessage> messages, bool? enableThinking, ChatRequest request,
                              Action<ChatChunk>? onChunk = null, CancellationToken cancellationToken = default,
                              IReadOnlyList<JsonNode>? tools = null) =>
        Generate(Render(messages, enableThinking, tools), request, separateThinking: true, onChunk, cancellationToken);

    /// <summary>
    /// Continues <paramref name="prompt"/> (token ids). <paramref name="separateThinking"/>: route &lt;think&gt; blocks to
    /// <see cref="ChatChunkKind.Thinking"/> chunks (chat), or stream everything as answer text (raw completion).
    /// Cancellation throws <see cref="OperationCanceledException"/> between tokens; the cache stays consistent.
    /// </summary>
    public ChatReply Generate(ReadOnlySpan<int> prompt, ChatRequest request, bool separateThinking,
                              Action<ChatChunk>? onChunk = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        if (prompt.Length == 0) throw new ArgumentException("The prompt is empty: give at least one token.", nameof(prompt));
        if (prompt.Length >= ContextLength)
            throw new InvalidOperationException($"The prompt has {prompt.Length} tokens but the context holds {ContextLength}: no room for a reply. Use a longer context or a shorter prompt.");
        cancellationToken.ThrowIfCancellationRequested();     // the prompt's ids are checked by the session's Prefill

        var sampler = _generation.Sampler;
        sampler.Options = request.Sampling;
        if (request.Seed is ulong seed) sampler.Reseed(seed);
        var options = new GenerationOptions
        {
            MaxNewTokens = request.MaxNewTokens, StopTokenIds = _stopIds, StopStrings = request.StopStrings ?? [],
            SkipSpecialTokens = true, SeparateThinking = separateThinking, OnlyTokenizerIds = true,
        };
        _generation.Start(prompt, options, reusePrefix: true);
        var thinking = new System.Text.StringBuilder();
        var answer = new System.Text.StringBuilder();
        while (_generation.Next(cancellationToken))
        {
            string piece = _generation.Piece.ToString();
            var kind = _generation.PieceKind;
            (kind == ChatChunkKind.Thinking ? thinking : answer).Append(piece);
            onChunk?.Invoke(new ChatChunk(kind, piece));
        }
        var stats = _generation.Stats;
        if (stats.StopReason == StopReason.Cancelled) throw new OperationCanceledException(cancellationToken);
        return new ChatReply { Thinking = thinking.ToString(), Answer = answer.ToString(), GeneratedIds = _generation.Generated.ToArray(), Stats = stats };
    }

    public void Dispose() => _generation.Session.Dispose();
}
