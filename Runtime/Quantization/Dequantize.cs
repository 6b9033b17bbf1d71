using System.Buffers.Binary;
using Qwen3Gen.Checkpoints;

namespace Qwen3Gen.Quantization;

/// <summary>
/// Widens GGML blocks to float32, bit-exactly as ggml's reference dequantisers (ggml-quants.c, gguf-py's
/// <c>gguf.quants.dequantize</c>). In these formats every product of an fp16 scale and an integer quant has fewer
/// than 24 significant bits, so it is exact in float32 in any order; the only rounding is the final subtraction of
/// the min in Q4_K and Q5_K. Zero quants times a negative scale give -0.0, as the reference does.
/// Block layouts are in docs/quantization.md.
/// </summary>
public static unsafe class Dequantize
{
    /// <summary>Dequantises <paramref name="count"/> elements (whole blocks) of <paramref name="type"/> from <paramref name="source"/>.</summary>
    public static void Row(GgmlType type, byte* source, float* destination, long count)
    {
        int blockSize = GgmlTypes.BlockSize(type);
        int blockBytes = GgmlTypes.BlockBytes(type);
        if (count % blockSize != 0)
            throw new ArgumentException($"{count} elements are not whole {type} blocks of {blockSize}.", nameof(count));
        long blocks = count / blockSize;
        switch (type)
        {
            case GgmlType.F32:
                Buffer.MemoryCopy(source, destination, count * 4, count * 4);
                return;
            case GgmlType.F16:
                for (long i = 0; i < count; i++) destination[i] = Half16(source + 2 * i);
                return;
            case GgmlType.BF16:
                for (long i = 0; i < count; i++) destination[i] = BitConverter.Int32BitsToSingle(*(ushort*)(source + 2 * i) << 16);
                return;
        }
        for (long b = 0; b < blocks; b++)
        {
            byte* x = source + b * blockBytes;
            float* y = destination + b * blockSize;
            switch (type)
            {
                case GgmlType.Q8_0: Q8_0(x, y); break;
                case GgmlType.Q4_0: Q4_0(x, y); break;
                case GgmlType.Q4_K: Q4_K(x, y); break;
                case GgmlType.Q5_K: Q5_K(x, y); break;
                case GgmlType.Q6_K: Q6_K(x, y); break;
                default: throw new NotSupportedException($"Dequantising {type} is not implemented; supported: {GgmlTypes.SupportedText}.");
            }
        }
    }

    /// <summary>The whole tensor, as float32 in its row-major order (PyTorch shape = ne reversed).</summary>
    public static void Tensor(GgufFile file, GgufTensorInfo info, Span<float> destination)
    {
        if (destination.Length != info.ElementCount)
            throw new ArgumentException($"'{file.Path}', tensor '{info.Name}' has {info.ElementCount} elements, the destination {destination.Length}.");
        fixed (float* y = destination) Row(info.Type, file.Data(info), y, info.ElementCount);
    }

    /// <summary>Row <paramref name="row"/> (of <c>ne[0]</c> elements) of a tensor: the embedding lookup of a quantised <c>token_embd</c>.</summary>
    public static void TensorRow(GgufFile file, GgufTensorInfo info, long row, Span<float> destination)
    {
        if ((ulong)row >= (ulong)info.Rows) throw new ArgumentOutOfRangeException(nameof(row), row, $"'{info.Name}' has {info.Rows} rows.");
        if (destination.Length != info.RowLength) throw new ArgumentException($"Row of '{info.Name}' has {info.RowLength} elements, the destination {destination.Length}.");
        fixed (float* y = destination) Row(info.Type, file.Data(info) + row * info.RowBytes, y, info.RowLength);
    }

    /// <summary>IEEE binary16 at <paramref name="p"/> widened exactly (subnormals included).</summary>
    internal static float Half16(byte* p) => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(p, 2)));

    /// <summary>Q8_0: fp16 d, 32 × int8 q; w = d·q.</summary>
    private static void Q8_0(byte* x, float* y)
    {
        float d = Half16(x);
        sbyte* q = (sbyte*)(x + 2);
        for (int j = 0; j < 32; j++) y[j] = d * q[j];
    }

    /// <summary>Q4_0: fp16 d, 16 bytes; byte j holds element j (low nibble) and j + 16 (high); w = d·(n − 8).</summary>
    private static void Q4_0(byte* x, float* y)
    {
        float d = Half16(x);
        byte* qs = x + 2;
        for (int j = 0; j < 16; j++)
        {
            y[j] = d * ((qs[j] & 15) - 8);
            y[j + 16] = d * ((qs[j] >> 4) - 8);
        }
    }

    /// <summary>The 6-bit scale and min of sub-block <paramref name="j"/> (0..7) from the 12 packed bytes of Q4_K / Q5_K.</summary>
    internal static void ScaleMin(int j, byte* s, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = s[j] & 63;
            min = s[j + 4] & 63;
        }
        else
        {
            scale = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
            min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
        }
    }

    /// <summary>Q4_K: fp16 d, fp16 dmin, 12 scale bytes, 128 bytes of nibbles (chunk c: sub-blocks 2c low, 2c+1 high); w = d·sc·n − dmin·m.</summary>
    private static void Q4_K(byte* x, float* y)
    {
        float d = Half16(x), dmin = Half16(x + 2);
        byte* scales = x + 4;
        byte* qs = x + 16;
        for (int c = 0; c < 4; c++)
        {
            ScaleMin(2 * c, scales, out int sc0, out int m0);
            ScaleMin(2 * c + 1, scales, out int sc1, out int m1);
            float d0 = d * sc0, min0 = dmin * m0, d1 = d * sc1, min1 = dmin * m1;
            byte* q = qs + 32 * c;
            for (int l = 0; l < 32; l++)
            {
                y[64 * c + l] = d0 * (q[l] & 15) - min0;
                y[64 * c + 32 + l] = d1 * (q[l] >> 4) - min1;
            }
        }
    }

    /// <summary>Q5_K: Q4_K plus 32 bytes qh: element 32j + l gains 16 × bit j of qh[l].</summary>
    private static void Q5_K(byte* x, float* y)
    {
        float d = Half16(x), dmin = Half16(x + 2);
        byte* scales = x + 4;
        byte* qh = x + 16;
        byte* qs = x + 48;
        for (int c = 0; c < 4; c++)
        {
            ScaleMin(2 * c, scales, out int sc0, out int m0);
            ScaleMin(2 * c + 1, scales, out int sc1, out int m1);
            float d0 = d * sc0, min0 = dmin * m0, d1 = d * sc1, min1 = dmin * m1;
            byte* q = qs + 32 * c;
            int lowBit = 2 * c, highBit = 2 * c + 1;
            for (int l = 0; l < 32; l++)
            {
                y[64 * c + l] = d0 * ((q[l] & 15) + (((qh[l] >> lowBit) & 1) << 4)) - min0;
                y[64 * c + 32 + l] = d1 * ((q[l] >> 4) + (((qh[l] >> highBit) & 1) << 4)) - min1;
            }
        }
    }

    /// <summary>
    /// Q6_K: ql[128], qh[64], int8 scales[16], fp16 d. Half h (128 elements) uses ql[64h..], qh[32h..]; element
    /// 128h + 32k + l takes its low nibble from ql[l] (k = 0, 2) or ql[l + 32] (k = 1, 3), low for k &lt; 2, high
    /// otherwise, and bits 2k, 2k+1 of qh[l]; w = d·scale[e/16]·(q − 32).
    /// </summary>
    private static void Q6_K(byte* x, float* y)
    {
        byte* ql = x;
        byte* qh = x + 128;
        sbyte* sc = (sbyte*)(x + 192);
        float d = Half16(x + 208);
        for (int h = 0; h < 2; h++)
        {
            byte* L = ql + 64 * h;
            byte* H = qh + 32 * h;
            float* o = y + 128 * h;
            sbyte* s = sc + 8 * h;
            for (int l = 0; l < 32; l++)
            {
                int q0 = ((L[l] & 15) | (((H[l] >> 0) & 3) << 4)) - 32;
                int q1 = ((L[l + 32] & 15) | (((H[l] >> 2) & 3) << 4)) - 32;
                int q2 = ((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32;
                int q3 = ((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32;
                int g = l / 16;
                o[l] = d * s[g] * q0;
                o[l + 32] = d * s[g + 2] * q1;
                o[l + 64] = d * s[g + 4] * q2;
                o[l + 96] = d * s[g + 6] * q3;
            }
        }
    }
}
