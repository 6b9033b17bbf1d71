using Qwen3Gen.Distributed;
using Qwen3Gen.Models;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// Cross-entropy over logits split by vocabulary (Megatron's vocab-parallel loss): each rank holds columns
/// [start, start + count) of every row. Per row:  M = max over ranks of the local maxima (gathered, N floats a row),
/// Z = Σ_r Σ_local exp(l − M) (one all-reduce of a float a row), and the target's logit from the rank that holds it
/// (all-reduced with zeros elsewhere);  loss = M + log Z − l[target]. The mean is over the non-ignored targets (-100).
/// </summary>
public static unsafe class VocabParallelLoss
{
    public static float Mean(ICommunicator comm, float* logits, ReadOnlySpan<int> targets, int start, int count, int rows)
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
}
