using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Qwen3Gen.Kernels;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// Element conversions between the bytes of a safetensors tensor (little-endian) and float32 / BF16.
/// bf16 -> f32 is exact (<c>bits &lt;&lt; 16</c>); f16 -> f32 is exact (every half is a float);
/// f32 -> bf16 rounds to nearest, ties to even (<see cref="BF16.FromSingle"/>, as PyTorch does).
/// The source spans come straight from the memory map and may be unaligned: MemoryMarshal.Cast
/// reads them with unaligned loads, which x64 and Arm64 allow.
/// </summary>
internal static class TensorConvert
{
    /// <summary>dst[i] = (float) src element i, for F32, BF16, F16 and F64 sources.</summary>
    public static void ToSingle(SafeTensorsDType dtype, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (dtype)
        {
            case SafeTensorsDType.F32:
                MemoryMarshal.Cast<byte, float>(src).CopyTo(dst);
                break;
            case SafeTensorsDType.BF16:
            {
                var bits = MemoryMarshal.Cast<byte, ushort>(src);
                for (int i = 0; i < dst.Length; i++) dst[i] = BitConverter.Int32BitsToSingle(bits[i] << 16);
                break;
            }
            case SafeTensorsDType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src), dst);
                break;
            case SafeTensorsDType.F64:
            {
                var d = MemoryMarshal.Cast<byte, double>(src);
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)d[i];
                break;
            }
            default:
                throw new InvalidOperationException($"{dtype} is not a floating-point dtype.");
        }
    }

    /// <summary>dst[i] = bf16(src element i): copied for BF16, rounded to nearest even from F32 / F16 / F64.</summary>
    public static void ToBF16(SafeTensorsDType dtype, ReadOnlySpan<byte> src, Span<BF16> dst)
    {
        switch (dtype)
        {
            case SafeTensorsDType.BF16:
                MemoryMarshal.Cast<byte, BF16>(src).CopyTo(dst);
                break;
            case SafeTensorsDType.F32:
            {
                var f = MemoryMarshal.Cast<byte, float>(src);
                for (int i = 0; i < dst.Length; i++) dst[i] = BF16.FromSingle(f[i]);
                break;
            }
            case SafeTensorsDType.F16:
            {
                // f16 -> f32 is exact, so this is a single rounding.
                var h = MemoryMarshal.Cast<byte, Half>(src);
                for (int i = 0; i < dst.Length; i++) dst[i] = BF16.FromSingle((float)h[i]);
                break;
            }
            case SafeTensorsDType.F64:
            {
                // Two roundings (f64 -> f32 -> bf16): can differ from a direct rounding in the last bit on exact ties.
                var d = MemoryMarshal.Cast<byte, double>(src);
                for (int i = 0; i < dst.Length; i++) dst[i] = BF16.FromSingle((float)d[i]);
                break;
            }
            default:
                throw new InvalidOperationException($"{dtype} is not a floating-point dtype.");
        }
    }

    /// <summary>Writes float32 values as <paramref name="dtype"/> bytes (F32 copy, BF16 / F16 rounded to nearest even).</summary>
    public static void FromSingle(ReadOnlySpan<float> src, SafeTensorsDType dtype, Span<byte> dst)
    {
        switch (dtype)
        {
            case SafeTensorsDType.F32:
                MemoryMarshal.AsBytes(src).CopyTo(dst);
                break;
            case SafeTensorsDType.BF16:
            {
                var b = MemoryMarshal.Cast<byte, BF16>(dst);
                for (int i = 0; i < src.Length; i++) b[i] = BF16.FromSingle(src[i]);
                break;
            }
            case SafeTensorsDType.F16:
                TensorPrimitives.ConvertToHalf(src, MemoryMarshal.Cast<byte, Half>(dst));
                break;
            default:
                throw new InvalidOperationException($"Cannot write float32 values as {dtype}.");
        }
    }

    /// <summary>Writes BF16 values as <paramref name="dtype"/> bytes (BF16 copy, F32 exact, F16 rounded).</summary>
    public static void FromBF16(ReadOnlySpan<BF16> src, SafeTensorsDType dtype, Span<byte> dst)
    {
        switch (dtype)
        {
            case SafeTensorsDType.BF16:
                MemoryMarshal.AsBytes(src).CopyTo(dst);
                break;
            case SafeTensorsDType.F32:
            {
                var f = MemoryMarshal.Cast<byte, float>(dst);
                for (int i = 0; i < src.Length; i++) f[i] = src[i].ToSingle();
                break;
            }
            case SafeTensorsDType.F16:
            {
                var h = MemoryMarshal.Cast<byte, Half>(dst);
                for (int i = 0; i < src.Length; i++) h[i] = (Half)src[i].ToSingle();
                break;
            }
            default:
                throw new InvalidOperationException($"Cannot write BF16 values as {dtype}.");
        }
    }
}
