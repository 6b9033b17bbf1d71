using System.Diagnostics;
using Qwen3Gen.Sampling;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Inference;

/// <summary>
/// One KV-cached decoding session plus a sampler, driven one reply at a time. Each call renders (or takes) a prompt,
/// keeps the cached keys and values of the longest common prefix with the ids already in the cache (rewinds to it),
/// prefills only the rest, then samples until a stop id, a stop string, the token limit or the end of the context.
/// A multi-turn chat re-renders the whole conversation every turn, so only the new user turn (and the previous
/// answer, whose think block the template drops once a newer user turn follows) is run through the model again.
/// Not thread-safe: one reply at a time.
/// </summary>
public sealed class ChatEngine : IDisposable
{
    private readonly IInferenceSession _session;
    private readonly Sampler _sampler;
    private readonly List<int> _cached = [];   // ids whose keys/values are in _session, positions 0..Count-1
    private readonly float[] _logits;           // scratch: the sampler edits logits in place
    private readonly bool[] _stop;
    private readonly int[] _stopIds;
    private readonly List<ChatChunk> _chunks = [];

    /// <param name="model">A model with its weights filled.</param>
    /// <param name="tokenizer">The Qwen3 tokenizer of the model's checkpoint.</param>
    /// <param name="stopIds">Ids that end a reply; default the tokenizer's (&lt;|im_end|&gt;, &lt;|endoftext|&gt;).</param>
    /// <param name="contextLength">Positions of the KV cache (prompt + reply), at most max_position_embeddings.</param>
    /// <param name="prefillChunk">Prompt tokens run through the model per forward pass.</param>
    public ChatEngine(IQwen3Model model, Qwen3Tokenizer tokenizer, IEnumerable<int>? stopIds = null,
                      int contextLength = 4096, int prefillChunk = 128)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        int vocab = model.Config.Vocab;
        if (tokenizer.VocabSize > vocab)
            throw new ArgumentException($"The tokenizer has {tokenizer.VocabSize} ids but the model's vocabulary is {vocab}: they do not belong together.", nameof(tokenizer));
        if (contextLength < 2 || contextLength > model.Config.MaxPositions)
            throw new ArgumentOutOfRangeException(nameof(contextLength), contextLength,
                $"The context length must be in 2..{model.Config.MaxPositions} (max_position_embeddings of {model.Name}).");
        Model = model;
        Tokenizer = tokenizer;
        _stopIds = (stopIds ?? tokenizer.EosIds).Distinct().ToArray();
        _stop = new bool[vocab];
        foreach (int id in _stopIds)
        {
            if ((uint)id >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(stopIds), id, $"Stop id {id} is outside the vocabulary [0, {vocab}).");
            _stop[id] = true;
        }
        _logits = new float[vocab];
        _sampler = new Sampler(vocab, SamplingOptions.Greedy);
        _session = model.CreateSession(contextLength, prefillChunk);
    }

    /// <summary>
    /// An engine over a loaded snapshot: stops at generation_config.json's eos_token_id and the tokenizer's eos ids.
    /// </summary>
    public static ChatEngine Create(LoadedModel loaded, Qwen3Tokenizer tokenizer, int contextLength = 4096, int prefillChunk = 128)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        ArgumentNullException.ThrowIfNull(tokenizer);
        return new ChatEngine(loaded.Model, tokenizer, loaded.Generation.EosTokenIds.Concat(tokenizer.EosIds), contextLength, prefillChunk);
    }

    public IQwen3Model Model { get; }

    public Qwen3Tokenizer Tokenizer { get; }

    /// <summary>Positions the KV cache holds (prompt + reply).</summary>
    public int ContextLength => _session.Capacity;

    public IReadOnlyList<int> StopIds => _stopIds;

    /// <summary>Ids whose keys and values are cached now (the last prompt and reply, minus the final sampled id).</summary>
    public IReadOnlyList<int> CachedIds => _cached;

    /// <summary>Renders a conversation with the Qwen3 chat template and the generation prompt.</summary>
    public int[] Render(IReadOnlyList<ChatMessage> messages, bool? enableThinking) =>
        ChatTemplate.Encode(Tokenizer, messages, addGenerationPrompt: true, enableThinking);

    /// <summary>Forgets the cache: the next call prefills its whole prompt.</summary>
    public void ClearCache()
    {
        _cached.Clear();
        _session.Rewind(0);
    }

    /// <summary>Generates the assistant's reply to <paramref name="messages"/> (rendered with the template); thinking is separated.</summary>
    public ChatReply Complete(IReadOnlyList<ChatMessage> messages, bool? enableThinking, ChatRequest request,
                              Action<ChatChunk>? onChunk = null, CancellationToken cancellationToken = default) =>
        Generate(Render(messages, enableThinking), request, separateThinking: true, onChunk, cancellationToken);

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
        int vocab = Model.Config.Vocab;
        foreach (int id in prompt)
            if ((uint)id >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(prompt), id, $"Token id {id} is outside the vocabulary [0, {vocab}).");
        cancellationToken.ThrowIfCancellationRequested();

        // Reuse the cached prefix; at least the last prompt token is run again, for its logits.
        int reuse = 0, limit = Math.Min(_cached.Count, prompt.Length - 1);
        while (reuse < limit && _cached[reuse] == prompt[reuse]) reuse++;
        _session.Rewind(reuse);
        _cached.RemoveRange(reuse, _cached.Count - reuse);

        long t0 = Stopwatch.GetTimestamp();
        var logits = _session.Prefill(prompt[reuse..]);
        for (int i = reuse; i < prompt.Length; i++) _cached.Add(prompt[i]);
        var prefillTime = Stopwatch.GetElapsedTime(t0);

        _sampler.Options = request.Sampling;
        if (request.Seed is ulong seed) _sampler.Reseed(seed);
        _sampler.Reset();
        _sampler.AddContext(prompt);

        var text = new ChatTextStream(Tokenizer, separateThinking, request.StopStrings);
        var generated = new List<int>();
        int steps = 0;
        ChatStopReason stop;
        long decodeStart = Stopwatch.GetTimestamp();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int id = Sample(logits);
            generated.Add(id);
            if (_stop[id]) { stop = ChatStopReason.EndOfSequence; break; }
            _chunks.Clear();
            bool more = text.Push(id, _chunks);
            Publish(onChunk);
            if (!more) { stop = ChatStopReason.StopString; break; }
            if (generated.Count >= request.MaxNewTokens) { stop = ChatStopReason.MaxTokens; break; }
            if (_session.Position >= _session.Capacity) { stop = ChatStopReason.ContextFull; break; }
            logits = _session.Decode(id);
            _cached.Add(id);
            steps++;
        }
        var decodeTime = Stopwatch.GetElapsedTime(decodeStart);
        _chunks.Clear();
        text.Finish(_chunks);
        Publish(onChunk);

        return new ChatReply
        {
            Thinking = text.Thinking,
            Answer = text.Answer,
            GeneratedIds = generated.ToArray(),
            Stop = stop,
            PromptTokens = prompt.Length,
            ReusedTokens = reuse,
            PrefilledTokens = prompt.Length - reuse,
            PrefillTime = prefillTime,
            DecodeSteps = steps,
            DecodeTime = decodeTime,
        };
    }

    // Ids past the tokenizer's vocabulary are the embedding's padding rows (151,669..151,935 for Qwen3): they have no
    // text and a trained model never picks them; they are excluded so that an untrained one cannot either.
    private int Sample(ReadOnlySpan<float> logits)
    {
        logits.CopyTo(_logits);
        int textVocab = Tokenizer.VocabSize;
        if (textVocab < _logits.Length) _logits.AsSpan(textVocab).Fill(float.NegativeInfinity);
        return _sampler.Sample(_logits);
    }

    private void Publish(Action<ChatChunk>? onChunk)
    {
        if (onChunk is null) return;
        foreach (var c in _chunks) onChunk(c);
    }

    public void Dispose() => _session.Dispose();
}
