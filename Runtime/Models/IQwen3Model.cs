using Qwen3Gen.Kernels;

namespace Qwen3Gen.Models;

/// <summary>
/// What every generated model offers, so shape-independent code (trainer, loader, sampler, CLI) can drive any of them.
/// The generated class implements it with its shapes as compile-time constants.
/// </summary>
public interface IQwen3Model : IDisposable
{
    /// <summary>The definition's class name, e.g. "Qwen3_0_6B".</summary>
    string Name { get; }

    ModelConfig Config { get; }

    /// <summary>Every parameter tensor, by Hugging Face checkpoint key, with its shape and offset in the flat buffer.</summary>
    IReadOnlyList<TensorSpec> Tensors { get; }

    Weights Weights { get; }

    /// <summary>d(loss)/d(parameter) in the same flat layout as the F32 weights (allocated on first Backward).</summary>
    NativeBuffer<float> Gradients { get; }

    /// <summary>
    /// RoPE scaling (default, linear, YaRN) of the work buffers and sessions made from now on; the definition's unless set
    /// (a model directory sets its config.json's). Setting it drops the current work buffers.
    /// </summary>
    RopeScaling RopeScaling { get; set; }

    /// <summary>The longest sequence or session capacity: max_position_embeddings, or more with RoPE scaling.</summary>
    int PositionLimit { get; }

    /// <summary>
    /// Gradient checkpointing (dense models): training keeps only each layer's output and recomputes a layer's activations
    /// just before its backward, one more forward pass per step for the activations of one layer instead of all; the
    /// gradients are bit-identical. Setting it frees the work buffers (the next Reserve or Forward allocates them).
    /// </summary>
    bool GradientCheckpointing { get; set; }

    /// <summary>
    /// Low-rank adapters trained on a frozen base (LoRA), or null (the default: every weight trains). When set, Forward adds
    /// each adapter's term after its matrix's product, and Backward computes no gradient of the model's own weights:
    /// <see cref="Gradients"/> is neither written nor allocated, and the weights may be BF16. The input gradients still
    /// flow through every layer, and each adapter takes its gradients from its matrix's input and output gradient.
    /// </summary>
    IMatrixAdapters? Adapters { get; set; }

    /// <summary>Allocates the work buffers for batches of up to <paramref name="batch"/> × <paramref name="seqLen"/> tokens, once.</summary>
    void Reserve(int batch, int seqLen, bool training);

    /// <summary>
    /// Forward pass over <paramref name="batch"/> rows of <paramref name="seqLen"/> tokens (positions 0..seqLen-1).
    /// <paramref name="targets"/> holds the id each position should predict, or -100 to ignore it (empty: no loss).
    /// Returns the mean cross-entropy over the non-ignored targets (NaN without targets); the logits stay in <see cref="Logits"/>.
    /// </summary>
    float Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int batch, int seqLen);

    /// <summary>
    /// The logits of the last Forward: [batch, seqLen, Vocab]. Backward overwrites them with their gradient (the buffer is
    /// reused to save Vocab floats per row): copy what you need before calling Backward.
    /// </summary>
    ReadOnlySpan<float> Logits { get; }

    /// <summary>
    /// An intermediate of the last Forward on training work buffers, for tests and debugging, named as in the golden
    /// fixtures: "embed", "layer_out.{i}", "final_norm" [batch, seqLen, Hidden]; "rope_cos", "rope_sin" [seqLen, HeadDim]
    /// (MoE models also "router_logits.{i}", "routing_weights.{i}", "selected_experts.{i}": <see cref="IMoeModel"/> has them typed).
    /// </summary>
    float[] DebugTensor(string name);

    /// <summary>Adds d(loss of the last Forward)/d(parameters) into <see cref="Gradients"/>. Needs Forward with targets.</summary>
    void Backward();

    /// <summary>Sets every gradient to zero.</summary>
    void ZeroGradients();

    /// <summary>Told as parts of the gradient become final during <see cref="Backward"/> (null: nobody).</summary>
    IBackwardHook? BackwardHook { get; set; }

    /// <summary>
    /// A KV-cached decoding session for one sequence of up to <paramref name="capacity"/> positions
    /// (at most <see cref="PositionLimit"/>); prompts are prefilled in chunks of up to <paramref name="chunk"/> tokens;
    /// <paramref name="cacheFormat"/> stores the keys and values as F32 (exact), BF16, F16 or Q8_0 (docs/long-context.md).
    /// </summary>
    IInferenceSession CreateSession(int capacity, int chunk = 128, KvCacheFormat cacheFormat = KvCacheFormat.F32);

    /// <summary>
    /// A session of <paramref name="sequences"/> KV-cache slots of <paramref name="capacity"/> positions each, decoded
    /// together one token per slot per step (continuous batching); prompts are prefilled in chunks of <paramref name="chunk"/>.
    /// </summary>
    IBatchSession CreateBatchSession(int sequences, int capacity, int chunk = 64);
}

/// <summary>Helpers for the Hugging Face causal-LM loss convention.</summary>
public static class CausalLm
{
    /// <summary>Ignored target id (PyTorch's ignore_index).</summary>
    public const int IgnoreIndex = -100;

    /// <summary>HF ForCausalLMLoss with labels = input_ids: position t predicts token t+1; the last position of each row is ignored.</summary>
    public static int[] ShiftedTargets(ReadOnlySpan<int> inputIds, int batch, int seqLen)
    {
        if (inputIds.Length != batch * seqLen) throw new ArgumentException($"{inputIds.Length} ids for batch {batch} × seqLen {seqLen}.");
        var targets = new int[inputIds.Length];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < seqLen; t++)
                targets[b * seqLen + t] = t + 1 < seqLen ? inputIds[b * seqLen + t + 1] : IgnoreIndex;
        return targets;
    }
}
