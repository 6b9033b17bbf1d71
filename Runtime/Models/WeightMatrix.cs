using Qwen3Gen.Kernels;

namespace Qwen3Gen.Models;

/// <summary>How one matrix's elements are stored: plain floats, or GGML blocks (layouts in docs/quantization.md).</summary>
public enum MatrixFormat : byte
{
    F32, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K,
}

/// <summary>
/// A handle on one weight matrix [rows, cols] in row-major order: where its data starts and how it is stored.
/// The generated model code passes handles to <c>Linear&lt;P&gt;</c> (<see cref="MatMul.Forward{P}(float*, float*, WeightMatrix, int)"/>),
/// which dispatches on <see cref="Format"/> once per product; adding a format changes the kernels, not the model code.
/// For quantised formats a row of <c>cols</c> elements is <c>cols / BlockSize</c> blocks back to back.
/// </summary>
public readonly unsafe struct WeightMatrix(void* data, MatrixFormat format)
{
    public readonly byte* Data = (byte*)data;
    public readonly MatrixFormat Format = format;

    public static WeightMatrix F32(float* data) => new(data, MatrixFormat.F32);

    public static WeightMatrix BF16(BF16* data) => new(data, MatrixFormat.BF16);

    /// <summary>Elements per block: 1 for F32/BF16, 32 for Q8_0/Q4_0, 256 for the K-quants.</summary>
    public static int BlockSize(MatrixFormat format) => format switch
    {
        MatrixFormat.F32 or MatrixFormat.BF16 => 1,
        MatrixFormat.Q8_0 or MatrixFormat.Q4_0 => 32,
        _ => 256,
    };

    /// <summary>Bytes per block.</summary>
    public static int BlockBytes(MatrixFormat format) => format switch
    {
        MatrixFormat.F32 => 4,
        MatrixFormat.BF16 => 2,
        MatrixFormat.Q8_0 => 34,
        MatrixFormat.Q4_0 => 18,
        MatrixFormat.Q4_K => 144,
        MatrixFormat.Q5_K => 176,
        _ => 210,
    };

    /// <summary>Bytes of one row of <paramref name="cols"/> elements.</summary>
    public static long RowBytes(MatrixFormat format, long cols) => cols / BlockSize(format) * BlockBytes(format);

    public bool IsQuantized => Format is not (MatrixFormat.F32 or MatrixFormat.BF16);

    /// <summary>The handle of row <paramref name="row"/> onwards (an expert of a stacked tensor, a token's embedding).</summary>
    public WeightMatrix Rows(long row, long cols) => new(Data + row * RowBytes(Format, cols), Format);
}
