using Qwen3Gen.Kernels;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// The element types of the safetensors format, named exactly as in a header's <c>"dtype"</c> field.
/// Every one can be opened and read as raw bytes; <see cref="SafeTensorsFile"/> converts
/// F32/BF16/F16/F64 to float32 and BF16, and I64/I32 to int64.
/// </summary>
public enum SafeTensorsDType
{
    BOOL,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
}

public static class SafeTensorsDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.BOOL or SafeTensorsDType.U8 or SafeTensorsDType.I8
            or SafeTensorsDType.F8_E5M2 or SafeTensorsDType.F8_E4M3 => 1,
        SafeTensorsDType.I16 or SafeTensorsDType.U16 or SafeTensorsDType.F16 or SafeTensorsDType.BF16 => 2,
        SafeTensorsDType.I32 or SafeTensorsDType.U32 or SafeTensorsDType.F32 => 4,
        SafeTensorsDType.F64 or SafeTensorsDType.I64 or SafeTensorsDType.U64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype."),
    };

    /// <summary>Parses a header's dtype string (case-sensitive, as the format defines it).</summary>
    public static bool TryParse(string? text, out SafeTensorsDType dtype)
    {
        // An exact name match: Enum.TryParse would also take "1", "f32" and "U8,I8".
        foreach (var candidate in Enum.GetValues<SafeTensorsDType>())
        {
            if (string.Equals(candidate.ToString(), text, StringComparison.Ordinal))
            {
                dtype = candidate;
                return true;
            }
        }
        dtype = default;
        return false;
    }

    /// <summary>"BOOL, U8, ..." for error messages.</summary>
    public static string KnownNames => string.Join(", ", Enum.GetNames<SafeTensorsDType>());
}
