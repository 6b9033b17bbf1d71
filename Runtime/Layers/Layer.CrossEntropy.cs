using Qwen3Gen.Kernels;
using Qwen3Gen.Models;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Layers;

// ================================ Cross-entropy (HF ForCausalLMLoss) ================================
// loss_r = logsumexp(z_r) − z_r[target_r]; the loss is the mean over rows whose target is not −100.
public static unsafe partial class Layer<S>
{
    private struct CrossEntropyJob : IParallelJob
    {
        public float* Logits, Lse, RowLoss;
        public int* Targets;

        public void Execute(int start, int end)
        {
            for (int r = start; r < end; r++)
            {
                float* z = Logits + (long)r * S.Vocab;
                Lse[r] = RowOps.LogSumExp(z, S.Vocab);
                int target = Targets[r];
                RowLoss[r] = target == CausalLm.IgnoreIndex ? 0f : Lse[r] - z[target];
            }
        }
    }

    public static float CrossEntropyForward(float* rowLoss, float* lse, float* logits, int* targets, int rows)
    {
        Workers.For(rows, new CrossEntropyJob { Logits = logits, Lse = lse, RowLoss = rowLoss, Targets = targets });
        double sum = 0;
        int count = 0;
        for (int r = 0; r < rows; r++)
            if (targets[r] != CausalLm.IgnoreIndex) { sum += rowLoss[r]; count++; }
        return count == 0 ? float.NaN : (float)(sum / count);
    }

    // dz_r = (softmax(z_r) − onehot(target_r)) / count, written over the logits; ignored rows get 0.
    private struct CrossEntropyBackwardJob : IParallelJob
    {
        public float* Logits, Lse;
        public int* Targets;
        public float InvCount;

        public void Execute(int start, int end)
        {
            for (int r = start; r < end; r++)
            {
                float* z = Logits + (long)r * S.Vocab;
                int target = Targets[r];
                if (target == CausalLm.IgnoreIndex) { RowOps.Clear(z, S.Vocab); continue; }
                RowOps.ExpScale(z, S.Vocab, Lse[r], InvCount);                    // softmax(z) / count = exp(z − lse) / count
                z[target] -= InvCount;
            }
        }
    }

    public static void CrossEntropyBackward(float* logits, float* lse, int* targets, int rows)
    {
        int count = 0;
        for (int r = 0; r < rows; r++) if (targets[r] != CausalLm.IgnoreIndex) count++;
        Workers.For(rows, new CrossEntropyBackwardJob { Logits = logits, Lse = lse, Targets = targets, InvCount = count == 0 ? 0f : 1f / count });
    }
}
