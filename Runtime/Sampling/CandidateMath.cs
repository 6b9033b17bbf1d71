using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Qwen3Gen.Sampling;

/// <summary>
/// The steps of a draw after the penalties, in one place for <see cref="Sampler"/> (one logits row) and
/// <see cref="ShardedSampler"/> (a row split by vocabulary across ranks): both compute the same float weights, the same
/// double sums in the same order and consume the generator the same way, so they agree wherever they see the same
/// candidates. The math is <see cref="Sampler"/>'s summary:
/// <code>
///   weights:  w[t] = exp(l[t]/T − max/T)                     (the top weight is exactly exp(0) = 1)
///   top-p:    keep the heaviest candidates while the mass before them is &lt; p · Σw
///   min-p:    keep w ≥ min_p
///   draw:     u = U[0, 1) · Σ(kept w); the first kept token whose cumulative weight exceeds u
/// </code>
/// </summary>
internal static class CandidateMath
{
    /// <summary>Buckets of the top-p pre-filter: the top 12 bits of a non-negative float (exponent and 3 mantissa bits).</summary>
    public const int Buckets = 2048;

    /// <summary>The greedy pick's checks: a NaN or +∞ maximum, or a −∞ one (every logit −∞), leaves no token to choose.</summary>
    public static void ThrowIfNotFinite(float max, int id)
    {
        if (float.IsNaN(max)) throw new NonFiniteLogitsException($"Logit {id} is NaN.");
        if (float.IsPositiveInfinity(max)) throw new NonFiniteLogitsException($"Logit {id} is +infinity.");
        if (float.IsNegativeInfinity(max)) throw new NonFiniteLogitsException("Every logit is -infinity: no token can be chosen.");
    }

    /// <summary>
    /// w[t] = exp(l[t]/T − max/T) for a whole row or a slice of a row of <paramref name="rowLength"/> tokens.
    /// TensorPrimitives.Exp takes its vector path for spans of at least Vector128&lt;float&gt;.Count elements and a scalar
    /// one (MathF.Exp, up to 1 ulp apart; measured on .NET 10) below that. A slice shorter than that of a row that is
    /// not is computed padded to one vector, so every weight's bits depend on its logit, T, max and the row's length
    /// only, not on how the row is split between ranks.
    /// </summary>
    public static void RowWeights(ReadOnlySpan<float> logits, float temperature, float max, Span<float> w, int rowLength)
    {
        if (logits.Length < Vector128<float>.Count && rowLength >= Vector128<float>.Count)
        {
            Span<float> padded = stackalloc float[Vector128<float>.Count];
            padded.Fill(max);
            logits.CopyTo(padded);
            RowWeights(padded, temperature, max, padded, rowLength);
            padded[..logits.Length].CopyTo(w);
            return;
        }
        TensorPrimitives.Divide(logits, temperature, w);
        TensorPrimitives.Subtract(w[..logits.Length], max / temperature, w);
        TensorPrimitives.Exp(w[..logits.Length], w);
    }

    /// <summary>The weights of the top-k path, in place over the k selected logits: w = exp(l/T − max/T) with MathF.Exp.</summary>
    public static void TopKWeights(Span<float> w, float temperature, float max)
    {
        float m = max / temperature;
        for (int j = 0; j < w.Length; j++) w[j] = MathF.Exp(w[j] / temperature - m);
    }

    /// <summary>
    /// The k largest logits into <paramref name="w"/>[0..k) and their ids (index + <paramref name="idOffset"/>) into
    /// <paramref name="ids"/>[0..k), in the order value descending, lower id first on ties (a total order: the result does
    /// not depend on how the row was scanned), by insertion into a sorted list of k. After the list fills, 8 logits at a
    /// time are compared with its smallest entry, so most of a large vocabulary is skipped with one vector compare.
    /// Requires k ≤ logits.Length.
    /// </summary>
    public static void SelectTopK(ReadOnlySpan<float> logits, int k, Span<float> w, Span<int> ids, int idOffset)
    {
        int count = 0, i = 0, n = logits.Length;
        for (; i < n && count < k; i++) Insert(w, ids, count++, logits[i], i + idOffset);
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
                if (logits[i] > w[k - 1]) Insert(w, ids, k - 1, logits[i], i + idOffset);
        }

        static void Insert(Span<float> w, Span<int> ids, int pos, float x, int id)
        {
            while (pos > 0 && w[pos - 1] < x) // strict: an equal value (a higher id, scanned later) stays behind
            {
                w[pos] = w[pos - 1];
                ids[pos] = ids[pos - 1];
                pos--;
            }
            w[pos] = x;
            ids[pos] = id;
        }
    }

    /// <summary>The top-p bucket of a weight: the bits of a non-negative float order like its value.</summary>
    public static int Bucket(float w) => (int)(BitConverter.SingleToUInt32Bits(w) >> 20);

    /// <summary>
    /// Adds each weight to its bucket's mass. Every weight of one bucket has the same exponent e, so it is a multiple of
    /// 2^(e−23) below 2^(e+1); a sum of fewer than 2^29 of them needs at most 53 bits and is exact in a double, in any
    /// order and however it is split (ranks' partial masses added by an all-reduce give the same bits).
    /// </summary>
    public static void AddBucketMasses(ReadOnlySpan<float> w, Span<double> mass)
    {
        foreach (float x in w) mass[Bucket(x)] += x;
    }

    /// <summary>p · Σw: the mass the nucleus must reach.</summary>
    public static double NucleusMass(SamplingOptions options, double total) => options.TopP * total;

    /// <summary>Walking the buckets from the heaviest, the lowest one the nucleus can reach: every nucleus token is in it or above.</summary>
    public static int LowestBucket(ReadOnlySpan<double> mass, double target)
    {
        int lowest = mass.Length - 1;
        double cumulative = mass[lowest];
        while (lowest > 0 && cumulative < target) cumulative += mass[--lowest];
        return lowest;
    }

    /// <summary>
    /// Compacts the weights in bucket <paramref name="lowest"/> or above, in index order, into
    /// <paramref name="candidates"/> (which may be <paramref name="w"/> itself: position ≤ index) and their ids into
    /// <paramref name="ids"/>; returns their number.
    /// </summary>
    public static int CompactCandidates(ReadOnlySpan<float> w, int lowest, Span<float> candidates, Span<int> ids, int idOffset)
    {
        int kept = 0;
        for (int j = 0; j < w.Length; j++)
        {
            if (Bucket(w[j]) < lowest) continue;
            candidates[kept] = w[j];
            ids[kept] = j + idOffset;
            kept++;
        }
        return kept;
    }

    /// <summary>
    /// Sorts candidates by decreasing weight (negated keys, ascending sort). The sort is an introsort, not stable: the
    /// order of equal weights depends on the input order, which is token order in both samplers.
    /// </summary>
    public static void SortByWeight(Span<float> w, Span<int> ids)
    {
        TensorPrimitives.Negate(w, w);
        w.Sort(ids);
        TensorPrimitives.Negate(w, w);
    }

    /// <summary>
    /// Top-p, min-p and the draw over candidates in decreasing weight order. <paramref name="total"/> is the Σw that
    /// top-p's p · Σw refers to (the k candidates' sum after top-k, the whole row's otherwise). Consumes one double of
    /// <paramref name="rng"/>.
    /// </summary>
    public static int DrawSorted(ReadOnlySpan<float> w, ReadOnlySpan<int> ids, int n, double total, SamplingOptions options, Rng rng)
    {
        if (options.TopP < 1f)
        {
            double target = NucleusMass(options, total);
            double cumulative = 0;
            int keep = 0;
            while (keep < n && cumulative < target) cumulative += w[keep++]; // keep while the mass before the token is < p
            n = Math.Max(keep, 1);
        }
        if (options.MinP > 0f)
            while (n > 1 && w[n - 1] < options.MinP) n--; // min_p · p_max in units of the top weight, which is exactly 1

        double u = rng.NextDouble() * Sum(w[..n]);
        double c = 0;
        int last = 0;
        int j = Walk(w[..n], 0f, u, ref c, ref last);
        return ids[j >= 0 ? j : last]; // not found: u rounded up to the total, the last token with weight
    }

    /// <summary>
    /// Whether a weight of the whole-row draw (no top-k, no top-p) counts: w ≥ min_p with min-p, w &gt; 0 without
    /// (written !(w ≤ 0): a NaN weight, possible only when max/T overflows, counts as it always did).
    /// </summary>
    public static bool Kept(float w, float minP) => minP > 0f ? w >= minP : !(w <= 0f);

    /// <summary>Σ of the kept weights, in index order.</summary>
    public static double KeptSum(ReadOnlySpan<float> w, float minP)
    {
        double s = 0;
        foreach (float x in w)
            if (Kept(x, minP)) s += x;
        return s;
    }

    /// <summary>
    /// Adds the kept weights to <paramref name="c"/> in index order and returns the first index where u &lt; c, or −1
    /// when u is not reached; <paramref name="last"/> becomes the last kept index passed.
    /// </summary>
    public static int Walk(ReadOnlySpan<float> w, float minP, double u, ref double c, ref int last)
    {
        for (int j = 0; j < w.Length; j++)
        {
            float x = w[j];
            if (!Kept(x, minP)) continue;
            c += x;
            last = j;
            if (u < c) return j;
        }
        return -1;
    }

    /// <summary>Σx in index order, in double.</summary>
    public static double Sum(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (float v in x) s += v;
        return s;
    }
}
