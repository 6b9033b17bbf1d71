namespace Qwen3Gen.Sampling;

/// <summary>
/// What the penalties need to know about the current sequence, for the tokens [start, start + count) of a vocabulary:
/// the whole of it for <see cref="Sampler"/>, one rank's slice for <see cref="ShardedSampler"/> (a rank penalises only
/// the logits it holds, so it only needs to remember its own tokens). Per token: seen in the context, generated, and
/// how many times generated.
/// </summary>
internal sealed class TokenHistory
{
    private const byte InContext = 1, Generated = 2;

    private readonly int _vocab, _start;
    private readonly byte[] _seen;          // per token of the slice: InContext | Generated
    private readonly int[] _seenIds;        // the distinct tokens seen (slice indices), in first-seen order
    private readonly int[] _generatedCount; // per token of the slice: times generated (frequency penalty)
    private int _seenCount;

    public TokenHistory(int vocab, int start, int count)
    {
        _vocab = vocab;
        _start = start;
        _seen = new byte[count];
        _seenIds = new int[count];
        _generatedCount = new int[count];
    }

    /// <summary>Forgets the tokens seen so far (a new sequence).</summary>
    public void Reset()
    {
        for (int s = 0; s < _seenCount; s++) _seen[_seenIds[s]] = 0;
        for (int s = 0; s < _seenCount; s++) _generatedCount[_seenIds[s]] = 0;
        _seenCount = 0;
    }

    /// <summary>Prompt tokens: the repetition penalty applies to them, the presence penalty does not.</summary>
    public void AddContext(ReadOnlySpan<int> tokens)
    {
        foreach (int t in tokens) Mark(t, InContext);
    }

    /// <summary>A generated token: both penalties apply to it.</summary>
    public void Accept(int token) => Mark(token, Generated);

    private void Mark(int token, byte flag)
    {
        if ((uint)token >= (uint)_vocab) throw new ArgumentOutOfRangeException(nameof(token), token, $"Token ids must be in [0, {_vocab}).");
        int i = token - _start;
        if ((uint)i >= (uint)_seen.Length) return; // another rank's token
        if (_seen[i] == 0) _seenIds[_seenCount++] = i;
        _seen[i] |= flag;
        if (flag == Generated) _generatedCount[i]++;
    }

    /// <summary>
    /// Penalises the logits of the slice (index i is token start + i), each seen token once:
    /// repetition l ← l &lt; 0 ? l·r : l/r (context and generated), then l ← l − α − β·n for generated tokens.
    /// </summary>
    public void ApplyPenalties(Span<float> logits, SamplingOptions options)
    {
        float r = options.RepetitionPenalty, a = options.PresencePenalty, f = options.FrequencyPenalty;
        if (r == 1f && a == 0f && f == 0f) return;
        for (int s = 0; s < _seenCount; s++)
        {
            int t = _seenIds[s];
            float x = logits[t];
            if (r != 1f) x = x < 0 ? x * r : x / r;                 // HF RepetitionPenaltyLogitsProcessor
            if ((_seen[t] & Generated) != 0) x -= a + f * _generatedCount[t];   // vLLM / OpenAI presence and frequency penalties
            logits[t] = x;
        }
    }
}
