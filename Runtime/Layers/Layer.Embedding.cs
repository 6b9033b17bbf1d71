using Qwen3Gen.Kernels;
using Qwen3Gen.Models;
using Qwen3Gen.Quantization;

namespace Qwen3Gen.Layers;

// ================================ Embedding ================================
// h[r, :] = E[id[r], :]          E = model.embed_tokens.weight [Vocab, Hidden]
public static unsafe partial class Layer<S>
{
    public static void EmbeddingForward(float* h, WeightMatrix embed, int* ids, int rows) =>
        MatrixRows.Gather(h, embed, ids, rows, S.Hidden);        // row id[r] of E in its stored format, widened

    // dE[id[r], :] += dh[r, :]       rows in order, so repeated ids accumulate in a fixed order
    public static void EmbeddingBackward(float* dEmbed, float* dh, int* ids, int rows)
    {
        for (int r = 0; r < rows; r++)
            RowOps.Add(dEmbed + (long)ids[r] * S.Hidden, dh + (long)r * S.Hidden, S.Hidden);
    }
}
