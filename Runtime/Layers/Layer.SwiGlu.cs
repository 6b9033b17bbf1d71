using System.Numerics.Tensors;
using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Layers;

// ================================ SwiGLU ================================
// act = silu(gate) ⊙ up,   silu(z) = z · σ(z)
// Element-wise over n = rows · Ffn (or a block of expert rows · ExpertFfn): threads split the elements into fixed
// blocks of SwiGluBlock (the blocks do not depend on the thread count, so neither does any result).
public static unsafe partial class Layer<S>
{
    private const int SwiGluBlock = 4096;

    private struct SwiGluJob : IParallelJob
    {
        public float* Act, Gate, Up, DGate, DUp, DAct;
        public long N;
        public bool Backward;

        public void Execute(int start, int end)
        {
            for (int block = start; block < end; block++)
            {
                long i0 = (long)block * SwiGluBlock;
                int length = (int)Math.Min(SwiGluBlock, N - i0);
                if (Backward) SwiGluBackwardBlock(DGate + i0, DUp + i0, DAct + i0, Gate + i0, Up + i0, length);
                else SwiGluForwardBlock(Act + i0, Gate + i0, Up + i0, length);
            }
        }
    }

    private static int SwiGluBlocks(long n) => checked((int)((n + SwiGluBlock - 1) / SwiGluBlock));

    public static void SwiGluForward(float* act, float* gate, float* up, long n) =>
        Workers.ForRows(SwiGluBlocks(n), SwiGluBlock, new SwiGluJob { Act = act, Gate = gate, Up = up, N = n });

    private static void SwiGluForwardBlock(float* act, float* gate, float* up, int length)
    {
        var a = new Span<float>(act, length);
        var z = new ReadOnlySpan<float>(gate, length);
        TensorPrimitives.Sigmoid(z, a);                                           // σ(z)
        TensorPrimitives.Multiply(a, z, a);                                       // silu(z) = z · σ(z)
        TensorPrimitives.Multiply(a, new ReadOnlySpan<float>(up, length), a);    // ⊙ up
    }

    // dgate = dact ⊙ up ⊙ σ(z)(1 + z(1 − σ(z)))      dup = dact ⊙ silu(z)      (overwrites dgate, dup)
    public static void SwiGluBackward(float* dGate, float* dUp, float* dAct, float* gate, float* up, long n) =>
        Workers.ForRows(SwiGluBlocks(n), 2 * SwiGluBlock,
                        new SwiGluJob { DGate = dGate, DUp = dUp, DAct = dAct, Gate = gate, Up = up, N = n, Backward = true });

    private static void SwiGluBackwardBlock(float* dGate, float* dUp, float* dAct, float* gate, float* up, int length)
    {
        var z = new ReadOnlySpan<float>(gate, length);
        var dg = new Span<float>(dGate, length);
        var du = new Span<float>(dUp, length);
        var da = new ReadOnlySpan<float>(dAct, length);
        TensorPrimitives.Sigmoid(z, dg);                                          // dg = σ
        TensorPrimitives.Multiply(z, dg, du);                                     // du = silu(z)
        RowOps.SwiGluGateGradient(dGate, dAct, gate, up, length);                // dg = dact ⊙ up ⊙ σ(1 + z(1 − σ))
        TensorPrimitives.Multiply(du, da, du);                                    // du = dact ⊙ silu(z)
    }
}
