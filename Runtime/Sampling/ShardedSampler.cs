using System.Numerics.Tensors;
using Qwen3Gen.Distributed;

namespace Qwen3Gen.Sampling;

/// <summary>
/// <see cref="Sampler"/> for a logits row split by vocabulary across the ranks of <see cref="Communicator"/> (the LM head
/// of Megatron-style tensor parallelism): rank r holds the logits of tokens [start_r, start_r + count_r), the slices
/// tile [0, vocab) in rank order, and the token is picked without gathering the row. Every call of
/// <see cref="Sample"/> is collective: all ranks call it with their slices of the same row, the same options, seed and
/// context, and all return the same id. The penalties are per token, so each rank applies them to its own slice.
/// <code>
///   max:      each rank's (max, id) by IndexOfMax's order, all-gathered; the max, lowest id on ties   2 floats a rank
///   greedy:   that id (temperature 0 or top-k 1); NaN/+∞/all −∞ raise NonFiniteLogitsException on every rank
///   top-k:    each rank's top min(k, count_r) (value, id) pairs, gathered with the max above, merged  2 + 2·min(k, count_r) floats a rank
///   top-p:    bucket masses + each rank's Σw, one all-reduce; the candidates in the buckets the       2048 + N doubles, N floats,
///             nucleus can reach, all-gathered, sorted and drawn from as by Sampler                 2 floats a candidate
///   plain,    each rank's Σ(kept w) (all-reduced, a slot per rank); u = U·Σ drawn on every rank; the   N doubles, 4 bytes
///   min-p:    rank whose cumulative range holds u walks its slice and broadcasts the id
/// </code>
/// (top-k and greedy: one collective per token; the whole-row paths: the max gather plus two (plain, min-p) or three
/// (top-p) more.)
/// <para><b>Exactness against <see cref="Sampler"/> on the whole row</b> (same seed, options, context, logits):</para>
/// <list type="bullet">
/// <item>Greedy and top-k (0 &lt; k &lt; vocab): the same id, always. The merged list is Sampler's selection (value
/// descending, lower id first: a total order), and the weights, top-p, min-p and draw run through the same
/// <see cref="CandidateMath"/> code on the same floats in the same order on every rank.</item>
/// <item>Without top-k the weights are Sampler's bit for bit, and so are the 2048 bucket masses (each is an exact sum,
/// <see cref="CandidateMath.AddBucketMasses"/>). What differs is Σw: each rank sums its slice in token order and the
/// ranks' sums are added in rank order, where Sampler adds the whole row in token order; the totals differ by rounding
/// (either way of adding the vocab positive terms is within about (vocab − 1)·2⁻⁵³ of the exact Σw, relatively). So
/// with top-p the id differs from Sampler's only when a cumulative bucket or candidate mass lies between the two values
/// of p·Σw (the kept candidates, their order and the draw among them are otherwise Sampler's exactly); without top-p (plain, min-p) only when u = U·Σw lies
/// within that rounding of the boundary between two tokens' cumulative weights: rank 0's cumulative weights are
/// Sampler's, a later rank's start from the sum of the ranks before it. Either way the id is a token with a non-zero
/// kept weight, the same on every rank, and the generator advances by one double as in Sampler.</item>
/// </list>
/// All scratch is allocated at construction: a call allocates nothing (the communicator's own buffers aside). The
/// constructor is collective too: it checks that the ranks agree on the vocabulary and the seed and that the slices
/// tile it in rank order. Not thread-safe: one sampler per generation stream and rank.
/// </summary>
public sealed unsafe class ShardedSampler : ITokenSampler
{
    private const int MaxVocab = 1 << 24; // token ids travel as floats, exact below 2^24

    private readonly ICommunicator _comm;
    private readonly int _rank, _size;
    private readonly int[] _counts;           // every rank's slice length
    private readonly float[] _local;          // this slice's weights
    private readonly float[] _w;              // candidate weights: local top-k, the merged top-k, the gathered nucleus candidates
    private readonly int[] _ids;              // their token ids
    private readonly float[] _gather;         // all-gathered blocks: [max, id, (value, id)…] or the nucleus candidates' (w, id) pairs
    private readonly long[] _blockCounts;     // floats per rank of the current all-gather
    private readonly int[] _heads;            // top-k merge: next pair of each rank's block
    private readonly float[] _candidateCounts; // nucleus candidates per rank (all-gathered)
    private readonly double[] _sums;          // [2048 bucket masses, Σw of each rank] (all-reduced)
    private readonly TokenHistory _history;
    private readonly Rng _rng;
    private SamplingOptions _options;

    public ShardedSampler(ICommunicator comm, int vocab, int start, int count, SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(comm);
        ArgumentNullException.ThrowIfNull(options);
        if (vocab < 1 || vocab >= MaxVocab) throw new ArgumentOutOfRangeException(nameof(vocab), vocab, $"The vocabulary must have 1 to {MaxVocab - 1} tokens (ids travel between ranks as floats).");
        if (count < 1 || start < 0 || (long)start + count > vocab)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"Rank {comm.Rank}'s slice [{start}, {(long)start + count}) must hold at least one token of [0, {vocab}).");
        options.Validate();
        _comm = comm;
        _rank = comm.Rank;
        _size = comm.Size;
        Vocab = vocab;
        Start = start;
        Count = count;
        _options = options;
        _counts = AgreeOnSlices(comm, vocab, start, count, options.Seed);

        _local = new float[count];
        _w = new float[vocab];
        _ids = new int[vocab];
        _gather = new float[2 * _size + 2 * vocab];
        _blockCounts = new long[_size];
        _heads = new int[_size];
        _candidateCounts = new float[_size];
        _sums = new double[CandidateMath.Buckets + _size];
        _history = new TokenHistory(vocab, start, count);
        _rng = new Rng(options.Seed);
    }

    public ICommunicator Communicator => _comm;

    public int Vocab { get; }

    /// <summary>This rank's slice: tokens [Start, Start + Count).</summary>
    public int Start { get; }

    public int Count { get; }

    /// <summary>The options of the next draws; every rank must set the same. Setting them keeps the generator's state.</summary>
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

    /// <summary>The generator's state (the same on every rank; save it to resume a sampled stream exactly).</summary>
    public RngState State
    {
        get => _rng.State;
        set => _rng.State = value;
    }

    /// <summary>Restarts the generator from <paramref name="seed"/> (on every rank).</summary>
    public void Reseed(ulong seed) => _rng.State = new Rng(seed).State;

    /// <summary>Forgets the tokens seen so far (a new sequence); the generator continues.</summary>
    public void Reset() => _history.Reset();

    /// <summary>Records prompt tokens (ids of the whole vocabulary; each rank keeps those of its slice).</summary>
    public void AddContext(ReadOnlySpan<int> tokens) => _history.AddContext(tokens);

    /// <summary>Records a generated token. <see cref="Sample"/> calls this itself.</summary>
    public void Accept(int token) => _history.Accept(token);

    /// <summary>
    /// Collective: picks the next token from this rank's slice of the logits row (length <see cref="Count"/>, modified
    /// in place by the penalties) and the other ranks' slices, records it as generated and returns it, the same id on
    /// every rank. Throws <see cref="NonFiniteLogitsException"/> on every rank if a logit of any rank is NaN or +∞ or if
    /// every logit is −∞. A slice of the wrong length throws on that rank before any collective.
    /// </summary>
    public int Sample(Span<float> localLogits)
    {
        if (localLogits.Length != Count) throw new ArgumentException($"Got {localLogits.Length} logits for rank {_rank}'s slice of {Count} tokens.", nameof(localLogits));
        _history.ApplyPenalties(localLogits, _options);

        int k = _options.TopK;
        bool topK = !_options.IsGreedy && k > 0 && k < Vocab;
        (float max, int best) = GatherMaximum(localLogits, topK ? k : 0);
        CandidateMath.ThrowIfNotFinite(max, best);

        int id;
        if (_options.IsGreedy) id = best;
        else if (topK) id = DrawTopK(k, max);
        else
        {
            CandidateMath.RowWeights(localLogits, _options.Temperature, max, _local, Vocab);
            id = _options.TopP < 1f ? DrawNucleus() : DrawRow();
        }
        Accept(id);
        return id;
    }

    /// <summary>
    /// All-gathers each rank's block [max, id] (then, for top-k, its top min(k, count) pairs (logit, id)) and returns
    /// the row's maximum and its id as TensorPrimitives.IndexOfMax on the whole row would: the first NaN if any, else
    /// the largest value with +0 above −0, the first id on ties. Ranks hold increasing ids, so folding the ranks' own
    /// IndexOfMax results in rank order with "replace only if strictly above" gives the first id.
    /// </summary>
    private (float Max, int Id) GatherMaximum(ReadOnlySpan<float> logits, int k)
    {
        long offset = 0, mine = 0;
        for (int r = 0; r < _size; r++)
        {
            if (r == _rank) mine = offset;
            _blockCounts[r] = 2 + 2L * Math.Min(k, _counts[r]);
            offset += _blockCounts[r];
        }
        int local = TensorPrimitives.IndexOfMax(logits);
        _gather[mine] = logits[local];
        _gather[mine + 1] = Start + local;
        if (k > 0)
        {
            int kk = Math.Min(k, Count);
            CandidateMath.SelectTopK(logits, kk, _w, _ids, Start);
            for (int j = 0; j < kk; j++)
            {
                _gather[mine + 2 + 2 * j] = _w[j];
                _gather[mine + 3 + 2 * j] = _ids[j];
            }
        }
        fixed (float* g = _gather) _comm.AllGather(g, _blockCounts);

        float max = _gather[0];
        int id = (int)_gather[1];
        offset = 0;
        for (int r = 1; r < _size; r++)
        {
            offset += _blockCounts[r - 1];
            float x = _gather[offset];
            if (!float.IsNaN(max) && (float.IsNaN(x) || x > max || (x == 0f && max == 0f && float.IsNegative(max) && !float.IsNegative(x))))
            {
                max = x;
                id = (int)_gather[offset + 1];
            }
        }
        return (max, id);
    }

    /// <summary>
    /// Merges the ranks' gathered top lists (each sorted value descending, lower id first) into the row's top k in the
    /// same order, then draws as Sampler's top-k path does.
    /// </summary>
    private int DrawTopK(int k, float max)
    {
        long offset = 0;
        for (int r = 0; r < _size; r++)
        {
            _heads[r] = (int)offset + 2;
            offset += _blockCounts[r];
        }
        for (int j = 0; j < k; j++)
        {
            int from = -1;
            float v = 0f, t = 0f;
            long end = 0;
            for (int r = 0; r < _size; r++)
            {
                end += _blockCounts[r];
                int h = _heads[r];
                if (h >= end) continue;
                float x = _gather[h], xid = _gather[h + 1];
                if (from < 0 || x > v || (x == v && xid < t)) { from = r; v = x; t = xid; }
            }
            _w[j] = v;
            _ids[j] = (int)t;
            _heads[from] += 2;
        }
        var top = _w.AsSpan(0, k);
        CandidateMath.TopKWeights(top, _options.Temperature, max);
        return CandidateMath.DrawSorted(top, _ids, k, CandidateMath.Sum(top), _options, _rng);
    }

    /// <summary>
    /// Top-p without top-k: the bucket masses (exact, so Sampler's) and the ranks' Σw in one all-reduce; the lowest
    /// bucket the nucleus reaches; each rank's candidates at or above it, gathered in rank order, which is token order:
    /// the array Sampler compacts, so the same sort gives the same order, ties included.
    /// </summary>
    private int DrawNucleus()
    {
        var mass = _sums.AsSpan(0, CandidateMath.Buckets);
        var rankSums = _sums.AsSpan(CandidateMath.Buckets);
        Array.Clear(_sums);
        CandidateMath.AddBucketMasses(_local, mass);
        rankSums[_rank] = CandidateMath.Sum(_local);
        _comm.AllReduceSum(_sums); // each slot of rankSums has one non-zero term: exact
        double total = 0;
        foreach (double s in rankSums) total += s;
        int lowest = CandidateMath.LowestBucket(mass, CandidateMath.NucleusMass(_options, total));

        int mine = CandidateMath.CompactCandidates(_local, lowest, _w, _ids, Start);
        Array.Clear(_candidateCounts);
        _candidateCounts[_rank] = mine;
        for (int r = 0; r < _size; r++) _blockCounts[r] = 1;
        fixed (float* c = _candidateCounts) _comm.AllGather(c, _blockCounts);

        long offset = 0, at = 0;
        for (int r = 0; r < _size; r++)
        {
            if (r == _rank) at = offset;
            _blockCounts[r] = 2L * (long)_candidateCounts[r];
            offset += _blockCounts[r];
        }
        for (int j = 0; j < mine; j++)
        {
            _gather[at + 2 * j] = _w[j];
            _gather[at + 2 * j + 1] = _ids[j];
        }
        fixed (float* g = _gather) _comm.AllGather(g, _blockCounts);

        int n = (int)(offset / 2);
        for (int j = 0; j < n; j++)
        {
            _w[j] = _gather[2 * j];
            _ids[j] = (int)_gather[2 * j + 1];
        }
        CandidateMath.SortByWeight(_w.AsSpan(0, n), _ids.AsSpan(0, n));
        return CandidateMath.DrawSorted(_w, _ids, n, total, _options, _rng);
    }

    /// <summary>
    /// The whole row, or its weights ≥ min-p: Σ = Σ_r S_r (S_r the rank's kept sum in token order, added in rank order);
    /// u = U·Σ on every rank; the owner is the first rank whose cumulative S_0 + … + S_r exceeds u (if rounding puts
    /// u at Σ, the last rank with weight), it walks its slice from S_0 + … + S_(r−1) as Sampler walks the row, and
    /// broadcasts the id.
    /// </summary>
    private int DrawRow()
    {
        float minP = _options.MinP;
        var rankSums = _sums.AsSpan(CandidateMath.Buckets);
        rankSums.Clear();
        rankSums[_rank] = CandidateMath.KeptSum(_local, minP);
        _comm.AllReduceSum(rankSums); // one non-zero term per slot: exact
        double total = 0;
        foreach (double s in rankSums) total += s;
        double u = _rng.NextDouble() * total;

        int owner = -1, lastWithWeight = 0;
        double before = 0, beforeLast = 0, c = 0;
        for (int r = 0; r < _size; r++)
        {
            double next = c + rankSums[r];
            if (!(rankSums[r] <= 0)) { lastWithWeight = r; beforeLast = c; }
            if (u < next) { owner = r; before = c; break; }
            c = next;
        }
        if (owner < 0) (owner, before) = (lastWithWeight, beforeLast);

        int id = 0;
        if (owner == _rank)
        {
            int last = 0;
            int j = CandidateMath.Walk(_local, minP, u, ref before, ref last);
            id = Start + (j >= 0 ? j : last); // not found: u rounded up to this rank's end, its last token with weight
        }
        _comm.Broadcast(&id, sizeof(int), owner);
        return id;
    }

    /// <summary>
    /// Collective check at construction: every rank's (vocab, start, count, seed) in its own slots of one all-reduce of
    /// doubles (each slot one non-zero term, so exact; the seed as two 32-bit halves). Every rank sees the same table and
    /// throws the same error.
    /// </summary>
    private static int[] AgreeOnSlices(ICommunicator comm, int vocab, int start, int count, ulong seed)
    {
        int n = comm.Size;
        var table = new double[5 * n];
        int me = 5 * comm.Rank;
        (table[me], table[me + 1], table[me + 2], table[me + 3], table[me + 4]) = (vocab, start, count, seed >> 32, (uint)seed);
        comm.AllReduceSum(table);
        var counts = new int[n];
        long end = 0;
        for (int r = 0; r < n; r++)
        {
            double v = table[5 * r], s = table[5 * r + 1], c = table[5 * r + 2];
            if (v != table[0]) throw new ArgumentException($"Rank {r} has a vocabulary of {v} tokens, rank 0 of {table[0]}: the ranks must sample the same model.");
            if (table[5 * r + 3] != table[3] || table[5 * r + 4] != table[4]) throw new ArgumentException($"Rank {r}'s seed differs from rank 0's: every rank must draw the same numbers.");
            if (s != end) throw new ArgumentException($"Rank {r} holds tokens [{s}, {s + c}) but the slices before it end at {end}: the slices must tile [0, {vocab}) in rank order.");
            counts[r] = (int)c;
            end += counts[r];
        }
        if (end != vocab) throw new ArgumentException($"The ranks' slices cover [0, {end}), not the vocabulary [0, {vocab}).");
        return counts;
    }
}
