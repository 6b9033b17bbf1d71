using Qwen3Gen.Distributed;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// Cross-entropy over logits split by vocabulary (Megatron's vocab-parallel loss): each rank holds columns
/// [start, start + count) of every row. Per row:  M = max over ranks of the local maxima (gathered, N floats a row),
/// Z = Σ_r Σ_local exp(l − M) (one all-reduce of a float a row), and the target's logit from the rank that holds it
/// (all-reduced with zeros elsewhere);  loss = M + log Z − l[target]. The mean is over the non-ignored targets (-100).
/// Backward (<see cref="Backward"/>) needs no communication: with lse = M + log Z kept per row by the forward,
/// dl_j = (exp(l_j − lse) − [j = target]) / count on the rank's own columns: each rank's softmax part is its columns of
/// the whole row's softmax, because M and Z are the whole row's.
/// </summary>
public static unsafe class VocabParallelLoss
{
    /// <param name="lse">Null, or [rows]: receives each row's log Σ exp over the whole vocabulary, M + log Z (for <see cref="Backward"/>).</param>
    public static float Mean(ICommunicator comm, float* logits, ReadOnlySpan<int> targets, int start, int count, int rows, float* lse = null)
    {
        int n = comm.Size;
        var maxima = new float[(long)n * rows];          // block r: rank r's maxima of every row
        var sums = new float[2 * rows];                  // [Z of each row, target logit of each row]
        fixed (float* mx = maxima)
        {
            float* mine = mx + (long)comm.Rank * rows;
            for (int r = 0; r < rows; r++)
            {
                float* row = logits + (long)r * count;
                float m = float.NegativeInfinity;
                for (int j = 0; j < count; j++) m = MathF.Max(m, row[j]);
                mine[r] = m;
            }
            var counts = new long[n];
            Array.Fill(counts, rows);
            comm.AllGather(mx, counts);
        }
        for (int r = 0; r < rows; r++)
        {
            float m = float.NegativeInfinity;
            for (int k = 0; k < n; k++) m = MathF.Max(m, maxima[(long)k * rows + r]);
            maxima[r] = m;                               // block 0 now holds the global maxima
            float* row = logits + (long)r * count;
            float z = 0;
            for (int j = 0; j < count; j++) z += MathF.Exp(row[j] - m);
            sums[r] = z;
            int t = targets[r] - start;
            sums[rows + r] = targets[r] != CausalLm.IgnoreIndex && (uint)t < (uint)count ? row[t] : 0f;
        }
        fixed (float* s = sums) comm.AllReduceSum(s, sums.Length);
        if (lse != null)
            for (int r = 0; r < rows; r++) lse[r] = maxima[r] + MathF.Log(sums[r]);
        double total = 0;
        int counted = 0;
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] == CausalLm.IgnoreIndex) continue;
            total += maxima[r] + MathF.Log(sums[r]) - sums[rows + r];
            counted++;
        }
        return counted == 0 ? float.NaN : (float)(total / counted);
    }

    /// <summary>
    /// The gradient of the mean loss with respect to this rank's logits, in place: dl[r, j] = (exp(l[r, j] − lse[r]) −
    /// [start + j = target_r]) / count, count = the non-ignored targets of all rows (the same on every rank: the targets
    /// are); ignored rows get 0. lse is what <see cref="Mean"/> wrote. Local: no rank needs another's logits.
    /// </summary>
    public static void Backward(float* logits, float* lse, ReadOnlySpan<int> targets, int start, int count, int rows)
    {
        int counted = 0;
        for (int r = 0; r < rows; r++) if (targets[r] != CausalLm.IgnoreIndex) counted++;
        float inv = counted == 0 ? 0f : 1f / counted;
        for (int r = 0; r < rows; r++)
        {
            float* row = logits + (long)r * count;
            if (targets[r] == CausalLm.IgnoreIndex) { RowOps.Clear(row, count); continue; }
            RowOps.ExpScale(row, count, lse[r], inv);                  // softmax / count = exp(l − lse) / count
            int t = targets[r] - start;
            if ((uint)t < (uint)count) row[t] -= inv;
        }
    }
}
