using System.Numerics.Tensors;

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
public sealed class Sampler : ITokenSampler
{
    private readonly float[] _weights; // candidate weights (or logits during top-k selection), by position
    private readonly int[] _ids;       // candidate token ids, by position (when positions are not ids)
    private readonly double[] _bucketMass = new double[CandidateMath.Buckets]; // top-p without top-k: mass per float-bits bucket
    private readonly TokenHistory _history;
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
        _history = new TokenHistory(vocab, 0, vocab);
        _rng = new Rng(options.Seed);
    }

    public int Vocab { get; }

    /// <summary>0: the sampler is given whole rows.</summary>
    public int Start => 0;

    /// <summary><see cref="Vocab"/>: the sampler is given whole rows.</summary>
    public int Count => Vocab;

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
    public void Reset() => _history.Reset();

    /// <summary>Records prompt tokens: the repetition penalty applies to them, the presence penalty does not (it counts generated tokens only).</summary>
    public void AddContext(ReadOnlySpan<int> tokens) => _history.AddContext(tokens);

    /// <summary>Records a generated token (both penalties apply to it). <see cref="Sample"/> calls this itself.</summary>
    public void Accept(int token) => _history.Accept(token);

    /// <summary>
    /// Picks the next token and records it as generated. <paramref name="logits"/> (length <see cref="Vocab"/>)
    /// is modified in place by the penalties. Throws <see cref="NonFiniteLogitsException"/> if a logit is NaN or +∞ or if every logit is −∞.
    /// </summary>
    public int Sample(Span<float> logits)
    {
        if (logits.Length != Vocab) throw new ArgumentException($"Got {logits.Length} logits for a vocabulary of {Vocab}.", nameof(logits));
        _history.ApplyPenalties(logits, _options);

        int best = TensorPrimitives.IndexOfMax(logits); // first index of the maximum; a NaN wins
        float max = logits[best];
        CandidateMath.ThrowIfNotFinite(max, best);

        int id = _options.IsGreedy ? best : Draw(logits, max);
        Accept(id);
        return id;
    }

    private int Draw(ReadOnlySpan<float> logits, float max)
    {
        float T = _options.Temperature;
        int k = _options.TopK;

        if (k > 0 && k < Vocab)
        {
            CandidateMath.SelectTopK(logits, k, _weights, _ids, 0);
            var top = _weights.AsSpan(0, k);
            CandidateMath.TopKWeights(top, T, max);
            return CandidateMath.DrawSorted(top, _ids, k, CandidateMath.Sum(top), _options, _rng);
        }

        var w = _weights.AsSpan();
        CandidateMath.RowWeights(logits, T, max, w, Vocab);
        if (_options.TopP < 1f)
        {
            // Without top-k the nucleus needs the tokens by decreasing weight, but sorting the whole vocabulary each
            // token is slow: the bucket masses bound the nucleus, and only the tokens in the lowest bucket it reaches
            // or above are compacted (in index order) into the candidate positions and sorted.
            double total = CandidateMath.Sum(w);
            Array.Clear(_bucketMass);
            CandidateMath.AddBucketMasses(w, _bucketMass);
            int lowest = CandidateMath.LowestBucket(_bucketMass, CandidateMath.NucleusMass(_options, total));
            int n = CandidateMath.CompactCandidates(w, lowest, w, _ids, 0);
            CandidateMath.SortByWeight(w[..n], _ids.AsSpan(0, n));
            return CandidateMath.DrawSorted(w, _ids, n, total, _options, _rng);
        }

        // The whole row (with min-p: its weights ≥ min_p), in token order.
        float minP = _options.MinP;
        double u = _rng.NextDouble() * CandidateMath.KeptSum(w, minP);
        double c = 0;
        int last = 0;
        int j = CandidateMath.Walk(w, minP, u, ref c, ref last);
        return j >= 0 ? j : last; // not found: u rounded up to the total, the last token with weight
    }
}
