using Qwen3Gen.Checkpoints;
using Qwen3Gen.Models;

namespace Qwen3Gen.Quantization;

/// <summary>Rows of a <see cref="WeightMatrix"/> as float32 (exact): the embedding lookup and reading weights back.</summary>
public static unsafe class MatrixRows
{
    public static GgmlType ToGgml(MatrixFormat format) => format switch
    {
        MatrixFormat.F32 => GgmlType.F32,
        MatrixFormat.BF16 => GgmlType.BF16,
        MatrixFormat.Q8_0 => GgmlType.Q8_0,
        MatrixFormat.Q4_0 => GgmlType.Q4_0,
        MatrixFormat.Q4_K => GgmlType.Q4_K,
        MatrixFormat.Q5_K => GgmlType.Q5_K,
        _ => GgmlType.Q6_K,
    };

    /// <summary>The matrix format of a GGML type the kernels multiply directly, or null (F16 is widened to F32 at load).</summary>
    public static MatrixFormat? FromGgml(GgmlType type) => type switch
    {
        GgmlType.F32 => MatrixFormat.F32,
        GgmlType.BF16 => MatrixFormat.BF16,
        GgmlType.Q8_0 => MatrixFormat.Q8_0,
        GgmlType.Q4_0 => MatrixFormat.Q4_0,
        GgmlType.Q4_K => MatrixFormat.Q4_K,
        GgmlType.Q5_K => MatrixFormat.Q5_K,
        GgmlType.Q6_K => MatrixFormat.Q6_K,
        _ => null,
    };

    /// <summary>Rows [0, rows) of <paramref name="m"/> (rows of <paramref name="cols"/> elements) into <paramref name="destination"/>.</summary>
    public static void ToFloat(WeightMatrix m, float* destination, long rows, long cols) =>
        Dequantize.Row(ToGgml(m.Format), m.Data, destination, rows * cols);

    /// <summary>h[r, :] = E[ids[r], :] for a table of <paramref name="cols"/> columns in any format.</summary>
    public static void Gather(float* h, WeightMatrix table, int* ids, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            Dequantize.Row(ToGgml(table.Format), table.Rows(ids[r], cols).Data, h + (long)r * cols, cols);
    }
}
