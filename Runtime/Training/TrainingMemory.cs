using System.Globalization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Training;

/// <summary>
/// What a training run holds in memory, from the hyper-parameters alone (before anything is allocated):
/// <list type="bullet">
/// <item>weights, gradients, AdamW's m and v: 4 bytes per parameter each (16 per parameter in all, F32);</item>
/// <item>activations for B × T tokens, as the generated training work buffers keep them (4 bytes each, R = B·T rows):
///   per layer 4·H + 3·Q + 4·KV + 3·F + heads + kv_heads + 2 floats per row (norm outputs and their 1/rms, q/k/v before and
///   after QK-norm/RoPE, the K/V cache, attention output and log-sum-exp, the MLP's gate, up and product, the layer
///   output), plus the embedding output, the final norm and the logits (Vocab per row), plus the backward's scratch shared
///   by all layers (2·H + 3·Q + 3·KV + 3·F per row). Q = heads · head_dim, KV = kv_heads · head_dim, F = intermediate size;
///   a sparse (MoE) layer counts ExpertsPerToken · ExpertFfn as its F (an estimate: routing buffers are left out);</item>
/// <item>with LoRA (<see cref="Lora"/>) the base may be BF16, and gradients and AdamW's moments are the adapters' only.</item>
/// </list>
/// </summary>
public sealed record TrainingMemory(long Parameters, long Weights, long Gradients, long OptimizerMoments, long Activations, long Logits)
{
    /// <summary>Everything above, in bytes.</summary>
    public long Total => Weights + Gradients + OptimizerMoments + Activations + Logits;

    /// <summary>The estimate for a full fine-tune of <paramref name="c"/> on batches of <paramref name="batch"/> × <paramref name="context"/> tokens.</summary>
    /// <param name="checkpointing">Gradient checkpointing (<see cref="IQwen3Model.GradientCheckpointing"/>): each layer keeps only its
    /// output (H per row) and one set of a layer's activations, K/V cache included, is shared.</param>
    public static TrainingMemory For(ModelConfig c, int batch, int context, bool checkpointing = false)
    {
        ArgumentNullException.ThrowIfNull(c);
        long p = MemoryBudget.ParameterCount(c);
        long rows = (long)batch * context, h = c.Hidden, q = (long)c.Heads * c.HeadDim, kv = (long)c.KvHeads * c.HeadDim;
        long perRow = h;                                                         // the embedding output (layer 0's input)
        long maxF = Enumerable.Range(0, c.Layers).Max(l => c.IsSparse(l) ? (long)c.ExpertsPerToken * c.ExpertFfn : c.Ffn);
        if (checkpointing) perRow += c.Layers * h + 3 * h + 3 * q + 4 * kv + 3 * maxF + c.Heads + c.KvHeads + 2;
        else
            for (int layer = 0; layer < c.Layers; layer++)
            {
                long f = c.IsSparse(layer) ? (long)c.ExpertsPerToken * c.ExpertFfn : c.Ffn;
                perRow += 4 * h + 3 * q + 4 * kv + 3 * f + c.Heads + c.KvHeads + 2;
            }
        perRow += h + 3 + 2 * h + 3 * q + 3 * kv + 3 * maxF;                      // final norm, rstd, lse, row loss; backward scratch
        return new TrainingMemory(p, 4 * p, 4 * p, 8 * p, 4 * rows * perRow + 8 * rows, 4 * rows * c.Vocab);
    }

    /// <summary>
    /// The same run training <paramref name="adapterParameters"/> LoRA parameters of rank <paramref name="rank"/> on a frozen
    /// base held in <paramref name="baseFormat"/> (<see cref="global::Qwen3Gen.Training.Lora.LoraAdapter"/>): the weights are the base
    /// (<see cref="MemoryBudget.WeightBytes"/>: BF16 halves the matrices) plus the adapters; the generated backward computes
    /// no gradient of the base, so the gradients and AdamW's moments are the adapters' only; the activations gain the
    /// adapters' scratch (2 · r floats per row).
    /// </summary>
    public TrainingMemory Lora(ModelConfig c, long adapterParameters, int rank, WeightFormat baseFormat, int batch, int context) =>
        this with
        {
            Weights = MemoryBudget.WeightBytes(c, baseFormat) + 4 * adapterParameters,
            Gradients = 4 * adapterParameters,
            OptimizerMoments = 8 * adapterParameters,
            Activations = Activations + 4 * global::Qwen3Gen.Training.Lora.LoraAdapter.ScratchFloats(rank, (long)batch * context),
        };

    /// <summary>"needs 10.3 GB: weights 2.4 GB, gradients 2.4 GB, AdamW moments 4.8 GB, activations 0.6 GB, logits 0.1 GB".</summary>
    public string Describe() => string.Format(CultureInfo.InvariantCulture,
        "needs {0}: weights {1}, gradients {2}, AdamW moments {3}, activations {4}, logits {5}",
        Gb(Total), Gb(Weights), Gb(Gradients), Gb(OptimizerMoments), Gb(Activations), Gb(Logits));

    /// <summary>Null when the run fits in <paramref name="available"/> bytes; else the refusal, with the numbers.</summary>
    public string? Shortfall(string what, long available) => Total <= available ? null : string.Format(CultureInfo.InvariantCulture,
        "{0} {1}, but only {2} are available; nothing was allocated. Lower --batch or --context (activations and logits grow with both), or train a smaller model.",
        what, Describe(), Gb(available));

    private static string Gb(long bytes) => bytes >= 100_000_000
        ? (bytes / 1e9).ToString("0.00 GB", CultureInfo.InvariantCulture)
        : (bytes / 1e6).ToString("0.0 MB", CultureInfo.InvariantCulture);
}
