using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Qwen3Gen.Sampling;

/// <summary>
/// Picks the next token from a vector of logits (one per vocabulary entry), with the steps of
/// <see cref="SamplingOptions"/> in Hugging Face's order:
/// <code>
///   repetition:  l[t] ← l[t] &lt; 0 ? l[t]·r : l[t]/r        for t in the context (prompt and generated)
///   presence:    l[t] ← l[t] − α − β·n[t]                  for t generated so far, n[t] times (α presence, β frequency)
///   greedy:      argmax l (first index on ties)            when temperature = 0 or top-k = 1
///   weights:     w[t] = exp(l[t]/T − max(l)/T)             (softmax up to its normalisation; top weight = 1)
///   top-k:       keep the k largest                        (partial selection, no full sort)
///   top-p:       keep the most probable tokens, in order, while the mass before them is &lt; p · Σw
///                (without top-k: a bucket pass bounds the nucleus, then only those candidates are sorted)
///   min-p:       keep w[t] ≥ min_p (= min_p · p_max / p_max, since the top weight is 1)
///   draw:        u ~ U[0, Σw) from the seeded xoshiro256**; the first kept token whose cumulative weight exceeds u
/// </code>
/// All scratch is allocated once, sized to the vocabulary: a call allocates nothing. The sampler
/// remembers the tokens of the current sequence (<see cref="AddContext"/>, <see cref="Accept"/>) for the
/// penalties. Not thread-safe: one sampler per generation stream.
/// </summary>
public sealed class Sampler
{
    private const byte InContext = 1, Generated = 2;

    private readonly float[] _weights; // candidate weights (or logits during top-k selection), by position
    private readonly int[] _ids;       // candidate token ids, by position (when positions are not ids)
    private readonly byte[] _seen;     // per token: InContext | Generated
    private readonly int[] _seenIds;   // the distinct tokens seen, in first-seen order
    private readonly int[] _generatedCount; // per token: times generated (frequency penalty)
    private readonly double[] _bucketMass = new double[2048]; // top-p without top-k: mass per float-bits bucket
    private int _seenCount;
    private readonly Rng _rng;
    private SamplingOptions _options;

    public Sampler(int vocab, SamplingOptions options)
    {
        if (vocab < 1) throw new ArgumentOutOfRangeException(nameof(vocab), vocab, "The vocabulary must have at least one token.");
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Vocab = vocab;
        _options = options;
        _weights = new float[vocab];
        _ids = new int[vocab];
        _seen = new byte[vocab];
        _seenIds = new int[vocab];
        _generatedCount = new int[vocab];
        _rng = new Rng(options.Seed);
    }

    public int Vocab { get; }

    /// <summary>The options of the next draws. Setting them (e.g. a thinking / non-thinking switch) keeps the generator's state.</summary>
    public SamplingOptions Options
    {
        get => _options;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            value.Validate();
            _options = value;
        }
    }

    /// <summary>The generator's state (save it to resume a sampled stream exactly).</summary>
    public RngState State
    {
        get => _rng.State;
        set => _rng.State = value;
    }

    /// <summary>Restarts the generator from <paramref name="seed"/>.</summary>
    public void Reseed(ulong seed) => _rng.State = new Rng(seed).State;

    /// <summary>Forgets the tokens seen so far (a new sequence); the generator continues.</summary>
    public void Reset()
    {
        for (int s = 0; s < _seenCount; s++) _seen[_seenIds[s]] = 0;
        for (int s = 0; s < _seenCount; s++) _generatedCount[_seenIds[s]] = 0;
        _seenCount = 0;
    }

    /// <summary>Records prompt tokens: the repetition penalty applies to them, the presence penalty does not (it counts generated tokens only).</summary>
    public void AddContext(ReadOnlySpan<int> tokens)
    {
        foreach (int t in tokens) Mark(t, InContext);
    }

    /// <summary>Records a generated token (both penalties apply to it). <see cref="Sample"/> calls this itself.</summary>
    public void Accept(int token) => Mark(token, Generated);

    /// <summary>
    /// Picks the next token and records it as generated. <paramref name="logits"/> (length <see cref="Vocab"/>)
    /// is modified in place by the penalties. Throws <see cref="NonFiniteLogitsException"/> if a logit is NaN or +∞ or if every logit is −∞.
    /// </summary>
    public int Sample(Span<float> logits)
    {
        if (logits.Length != Vocab) throw new ArgumentException($"Got {logits.Length} logits for a vocabulary of {Vocab}.", nameof(logits));
        ApplyPenalties(logits);

        int best = TensorPrimitives.IndexOfMax(logits); // first index of the maximum; a NaN wins
        float max = logits[best];
        if (float.IsNaN(max)) throw new NonFiniteLogitsException($"Logit {best} is NaN.");
        if (float.IsPositiveInfinity(max)) throw new NonFiniteLogitsException($"Logit {best} is +infinity.");
        if (float.IsNegativeInfinity(max)) throw new NonFiniteLogitsException("Every logit is -infinity: no token can be chosen.");

        int id = _options.IsGreedy ? best : Draw(logits, max);
        Accept(id);
        return id;
    }

    private void Mark(int token, byte flag)
    {
        if ((uint)token >= (uint)Vocab) throw new ArgumentOutOfRangeException(nameof(token), token, $"Token ids must be in [0, {Vocab}).");
        if (_seen[token] == 0) _seenIds[_seenCount++] = token;
        _seen[token] |= flag;
        if (flag == Generated) _generatedCount[token]++;
    }

    private void ApplyPenalties(Span<float> logits)
    {
        float r = _options.RepetitionPenalty, a = _options.PresencePenalty, f = _options.FrequencyPenalty;
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

    private int Draw(ReadOnlySpan<float> logits, float max)
    {
        float T = _options.Temperature;
        int k = _options.TopK;
        var w = _weights.AsSpan();
        int n;
        bool positioned; // true: _ids[j] is the token at position j; false: position j is token j

        if (k > 0 && k < Vocab)
        {
            n = SelectTopK(logits, k);
            float m = max / T;
            for (int j = 0; j < n; j++) w[j] = MathF.Exp(w[j] / T - m);
            positioned = true;
        }
        else
        {
            n = Vocab;
            TensorPrimitives.Divide(logits, T, w);
            TensorPrimitives.Subtract(w, max / T, w);
            TensorPrimitives.Exp(w, w);
            positioned = false;
        }

        if (_options.TopP < 1f)
        {
            double target = _options.TopP * Sum(w[..n]);
            if (!positioned)
            {
                n = NucleusCandidates(n, target);
                positioned = true;
            }
            double cumulative = 0;
            int keep = 0;
            while (keep < n && cumulative < target) cumulative += w[keep++]; // keep while the mass before the token is < p
            n = Math.Max(keep, 1);
        }

        if (_options.MinP > 0f)
        {
            float threshold = _options.MinP; // min_p · p_max in units of the top weight, which is exactly 1
            if (positioned)
            {
                while (n > 1 && w[n - 1] < threshold) n--;        // positions are in decreasing weight order
            }
            else
            {
                int kept = 0;
                for (int j = 0; j < n; j++)
                    if (w[j] >= threshold) { w[kept] = w[j]; _ids[kept] = j; kept++; }
                n = kept;                                          // ≥ 1: the top weight is 1 ≥ min_p
                positioned = true;
            }
        }

        double u = _rng.NextDouble() * Sum(w[..n]);
        double c = 0;
        int last = 0;
        for (int j = 0; j < n; j++)
        {
            if (w[j] <= 0) continue;
            c += w[j];
            last = j;
            if (u < c) return positioned ? _ids[j] : j;
        }
        return positioned ? _ids[last] : last; // u rounded up to the total: the last token with weight
    }

    /// <summary>
    /// The k largest logits into _weights[0..k) (decreasing; equal values keep the lower id first) and their
    /// ids into _ids[0..k), by insertion into a sorted list of k. After the list fills, 8 logits at a time are
    /// compared with its smallest entry, so most of a large vocabulary is skipped with one vector compare.
    /// </summary>
    private int SelectTopK(ReadOnlySpan<float> logits, int k)
    {
        var w = _weights;
        var ids = _ids;
        int count = 0, i = 0, n = logits.Length;
        for (; i < n && count < k; i++) Insert(w, ids, count++, logits[i], i);
        while (i < n)
        {
            if (Vector256.IsHardwareAccelerated && i <= n - 8
                && !Vector256.GreaterThanAny(Vector256.Create(logits.Slice(i, 8)), Vector256.Create(w[k - 1])))
            {
                i += 8;
                continue;
            }
            int end = Vector256.IsHardwareAccelerated ? Math.Min(i + 8, n) : i + 1;
            for (; i < end; i++)
                if (logits[i] > w[k - 1]) Insert(w, ids, k - 1, logits[i], i);
        }
        return k;

        static void Insert(float[] w, int[] ids, int pos, float x, int id)
        {
            while (pos > 0 && w[pos - 1] < x)
            {
                w[pos] = w[pos - 1];
                ids[pos] = ids[pos - 1];
                pos--;
            }
            w[pos] = x;
            ids[pos] = id;
        }
    }

    /// <summary>
    /// Without top-k the nucleus needs the tokens by decreasing weight, but sorting the whole vocabulary each
    /// token is slow. The bits of a positive float order like its value, so one pass files every weight
    /// into one of 2048 buckets by its top bits (exponent and 3 mantissa bits) and sums each bucket's mass;
    /// walking the buckets from the top finds the lowest bucket the nucleus can reach. Only the tokens in
    /// that bucket or above are compacted (in index order) into the candidate positions and sorted.
    /// </summary>
    private int NucleusCandidates(int n, double target)
    {
        var w = _weights.AsSpan(0, n);
        var mass = _bucketMass;
        Array.Clear(mass);
        foreach (float x in w) mass[BitConverter.SingleToUInt32Bits(x) >> 20] += x;
        int lowest = mass.Length - 1;
        double cumulative = mass[lowest];
        while (lowest > 0 && cumulative < target) cumulative += mass[--lowest];

        int kept = 0;
        for (int j = 0; j < n; j++)
        {
            if ((BitConverter.SingleToUInt32Bits(w[j]) >> 20) < (uint)lowest) continue;
            _weights[kept] = -w[j]; // negated: the default ascending sort puts the heaviest first
            _ids[kept] = j;
            kept++;
        }
        var keys = _weights.AsSpan(0, kept);
        keys.Sort(_ids.AsSpan(0, kept));
        TensorPrimitives.Negate(keys, keys);
        return kept;
    }

    private static double Sum(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (float v in x) s += v;
        return s;
    }
}
