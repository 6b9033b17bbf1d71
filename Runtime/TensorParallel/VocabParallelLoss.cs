using Qwen3Gen.Distributed;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// Cross-entropy over logits split by vocabulary (Megatron's vocab-parallel loss): each rank holds columns
/// [start, start + count) of every row. Per row each rank computes its columns' log-sum-exp lse_r (RowOps.LogSumExp,
/// the one-process loss's kernel) and its target logit (0 when the target is another rank's token); one all-gather of
/// these 2 floats a row gives every rank  lse = M + log Σ_r exp(lse_r − M) (M = max_r lse_r) and l[target] (one value
/// plus zeros, exact);  loss = lse − l[target]. The mean is over the non-ignored targets (-100).
/// Backward (<see cref="Backward"/>) needs no communication: with the whole row's lse kept per row by the forward,
/// dl_j = (exp(l_j − lse) − [j = target]) / count on the rank's own columns: each rank's softmax part is its columns of
/// the whole row's softmax, because lse is the whole row's.
/// </summary>
public static unsafe class VocabParallelLoss
{
    /// <param name="lse">Null, or [rows]: receives each row's log Σ exp over the whole vocabulary (for <see cref="Backward"/>).</param>
    public static float Mean(ICommunicator comm, float* logits, ReadOnlySpan<int> targets, int start, int count, int rows, float* lse = null)
    {
        int n = comm.Size;
        var parts = new float[2L * n * rows];            // block k: rank k's log-sum-exp of every row, then its target logit of every row (0: not its token)
        fixed (float* p = parts)
        {
            float* mine = p + 2L * comm.Rank * rows;
            for (int r = 0; r < rows; r++)
            {
                float* row = logits + (long)r * count;
                mine[r] = RowOps.LogSumExp(row, count);
                int t = targets[r] - start;
                mine[rows + r] = targets[r] != CausalLm.IgnoreIndex && (uint)t < (uint)count ? row[t] : 0f;
            }
            var blocks = new long[n];
            Array.Fill(blocks, 2L * rows);
            comm.AllGather(p, blocks);
        }
        double total = 0;
        int counted = 0;
        for (int r = 0; r < rows; r++)
        {
            float m = float.NegativeInfinity, z = 0f, target = 0f;
            for (int k = 0; k < n; k++) m = MathF.Max(m, parts[2L * k * rows + r]);
            for (int k = 0; k < n; k++)
            {
                z += MathF.Exp(parts[2L * k * rows + r] - m);              // log Σ_k exp(lse_k) = m + log Σ_k exp(lse_k − m)
                target += parts[2L * k * rows + rows + r];                 // one rank's logit plus zeros: exact
            }
            float rowLse = m + MathF.Log(z);
            if (lse != null) lse[r] = rowLse;
            if (targets[r] == CausalLm.IgnoreIndex) continue;
            total += rowLse - target;
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
