using Qwen3Gen.Kernels;
using Qwen3Gen.Models;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Layers;

/// <summary>
/// The layer math of every Qwen3 model, forward and backward, written once against a shape <typeparamref name="S"/>
/// (the <c>Shape</c> struct a generated model declares). Each file holds one layer kind with its math in comments:
/// Embedding, RmsNorm (also QK-norm and the fused residual add), Rope (and the KV-cache write), Attention
/// (causal GQA, flash-decoding), SwiGlu, CrossEntropy, MixtureOfExperts. The generated model calls these in order
/// (its Forward.g.cs is the orchestration); the JIT compiles them per model with the shape's numbers as constants.
/// Work is split over threads with <see cref="Workers"/>, always so that each output is computed by one thread in a
/// fixed order: results are bit-identical for any thread count. Nothing here allocates.
/// </summary>
public static unsafe partial class Layer<S> where S : struct, IModelShape
{
    // ---- Linear (nn.Linear without bias): y = x · Wᵀ, W [P.Out, P.In] ----
    // P names the product (the generated model's QProj, KProj, ..., LmHead; the experts' and router's below), so its
    // sizes are types, not arguments: the kernels are compiled per product with In and Out as constants (IProduct).

    /// <summary>y = x · Wᵀ.   x: [rows, P.In], W: [P.Out, P.In] in any weight format, y: [rows, P.Out] (overwritten).</summary>
    public static void Linear<P>(float* y, float* x, WeightMatrix w, int rows) where P : struct, IProduct
        => MatMul.Forward<P>(y, x, w, rows);

    /// <summary>dx += dy · W   (the input gradient of y = x · Wᵀ; accumulates).   dy: [rows, P.Out], dx: [rows, P.In].</summary>
    public static void InputGradient<P>(float* dx, float* dy, WeightMatrix w, int rows) where P : struct, IProduct
        => MatMul.BackwardInput<P>(dx, dy, w, rows);

    /// <summary>
    /// dW += dyᵀ · x for the matrix at layout offset <paramref name="matrix"/> (y = x · Wᵀ). A frozen base (g null) computes
    /// no dW; the matrix's adapter, if it has one, takes its own gradients from dy and x and adds its term to dx.
    /// </summary>
    public static void WeightGradient<P>(float* g, IMatrixAdapters? lora, long matrix, float* dx, float* dy, float* x, int rows) where P : struct, IProduct
    {
        if (g != null) MatMul.BackwardWeight<P>(g + matrix, dy, x, rows);
        else lora?.Backward(matrix, dx, dy, x, rows);
    }

    /// <summary>The gradient of the parameter at layout offset <paramref name="offset"/>, or null with a frozen base (g null).</summary>
    public static float* At(float* g, long offset) => g == null ? null : g + offset;
}
