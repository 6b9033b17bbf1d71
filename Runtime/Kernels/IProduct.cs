using System.Runtime.CompilerServices;

namespace Qwen3Gen.Kernels;

/// <summary>
/// A matrix product's sizes as a type: y = x · Wᵀ with W [Out, In] (nn.Linear). A generated model declares one struct
/// per product (<c>QProj</c>: In = Hidden, Out = QDim, ...) and passes it as the type argument of
/// <see cref="MatMul.Forward{P}(float*, float*, Models.WeightMatrix, int)"/> and <c>MatMul.BackwardInput&lt;P&gt;</c>. For a struct
/// type argument the JIT compiles the kernels once per product, and each <c>P.In</c> there inlines to its constant:
/// the dot-product loops of the decode kernel (<see cref="MatVec"/>) and the k-blocks and micro-kernel of the packed
/// product (<see cref="Gemm"/>) run to fixed bounds, as if the numbers were written in (docs/kernels.md, "Sizes as
/// constants"; the machine code is in docs/generated-code.md).
/// </summary>
public interface IProduct
{
    /// <summary>Inputs per row: the length of every dot product (W's row length).</summary>
    static abstract int In { get; }

    /// <summary>Outputs per row (W's rows).</summary>
    static abstract int Out { get; }
}

/// <summary>
/// The sizes of a product that are not constants (LoRA adapters, tensor-parallel slices, tests, tools): In and Out are −1, and the kernels use the
/// sizes passed at run time. The same kernel code serves both: <see cref="Sizes.Of"/> folds to one or the other.
/// </summary>
internal readonly struct Unsized : IProduct
{
    public static int In => -1;
    public static int Out => -1;
}

internal static class Sizes
{
    /// <summary>
    /// The product's constant (<paramref name="constant"/> ≥ 0), else the size given at run time. Called with <c>P.In</c> or
    /// <c>P.Out</c>, which the JIT knows per instantiation, so the test folds away and only one of the two remains.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Of(int constant, int runtime) => constant >= 0 ? constant : runtime;
}
