namespace Qwen3Gen.Models;

/// <summary>
/// Trainable additions to some of a model's weight matrices while the model's own weights stay frozen: LoRA's
/// y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ (<see cref="Training.Lora.LoraAdapter"/>). Set on <see cref="IQwen3Model.Adapters"/>, the
/// generated passes call these right after the product of each matrix an adapter may sit on, with that matrix's layout
/// offset; a matrix without an adapter returns at once. Calls come from the thread that runs Forward and Backward.
/// </summary>
public unsafe interface IMatrixAdapters
{
    /// <summary>y [rows, out] += the adapter's output for the input x [rows, in] of the matrix at layout offset <paramref name="matrix"/>.</summary>
    void Forward(long matrix, float* y, float* x, int rows);

    /// <summary>
    /// The backward of <see cref="Forward"/>: from the output gradient dy [rows, out] and the input x [rows, in], adds the
    /// adapter's parameter gradients into its own gradient buffer and its term of d(loss)/dx into dx [rows, in].
    /// </summary>
    void Backward(long matrix, float* dx, float* dy, float* x, int rows);
}
