using Qwen3Gen.Checkpoints;

namespace Qwen3Gen.Quantization;

/// <summary>
/// GGML's reference quantisers for the 32-element formats, bit for bit (ggml-quants.c <c>quantize_row_q8_0_ref</c>,
/// <c>quantize_row_q4_0_ref</c>; the bytes llama-quantize writes without an importance matrix):
/// <list type="bullet">
/// <item>Q8_0: d = max|x| / 127 stored as fp16 (round to nearest even), q = round(x · (1/d)) half away from zero, where
///   1/d is taken from the float32 d before rounding it to fp16.</item>
/// <item>Q4_0: m = the element of largest magnitude with its sign, d = m / −8, n = min(15, trunc(x · (1/d) + 8.5)),
///   byte j = n[j] | n[j + 16] &lt;&lt; 4.</item>
/// </list>
/// Q4_K, Q5_K and Q6_K go to <see cref="KQuantize"/> (ggml's K-quant reference quantisers, also bit for bit).
/// </summary>
public static unsafe class Quantize
{
    /// <summary>Quantises <paramref name="count"/> floats (whole blocks) into <paramref name="destination"/>.</summary>
    public static void Row(GgmlType type, float* x, byte* destination, long count)
    {
        int block = GgmlTypes.BlockSize(type);
        if (count % block != 0) throw new ArgumentException($"{count} elements are not whole {type} blocks of {block}.", nameof(count));
        switch (type)
        {
            case GgmlType.F32:
                Buffer.MemoryCopy(x, destination, count * 4, count * 4);
                break;
            case GgmlType.Q8_0:
                for (long b = 0; b < count / 32; b++) Q8_0(x + 32 * b, destination + 34 * b);
                break;
            case GgmlType.Q4_0:
                for (long b = 0; b < count / 32; b++) Q4_0(x + 32 * b, destination + 18 * b);
                break;
            case GgmlType.Q4_K:
                for (long b = 0; b < count / 256; b++) KQuantize.Q4_K(x + 256 * b, destination + 144 * b);
                break;
            case GgmlType.Q5_K:
                for (long b = 0; b < count / 256; b++) KQuantize.Q5_K(x + 256 * b, destination + 176 * b);
                break;
            case GgmlType.Q6_K:
                for (long b = 0; b < count / 256; b++) KQuantize.Q6_K(x + 256 * b, destination + 210 * b);
                break;
            default:
                throw new NotSupportedException($"Quantising to {type} is not implemented; Qwen3Gen writes F32, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K.");
        }
    }

    private static void Q8_0(float* x, byte* y)
    {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = Math.Max(amax, Math.Abs(x[j]));
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        *(ushort*)y = BitConverter.HalfToUInt16Bits((Half)d);
        sbyte* q = (sbyte*)(y + 2);
        for (int j = 0; j < 32; j++) q[j] = (sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    private static void Q4_0(float* x, byte* y)
    {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++)
        {
            float v = x[j];
            if (amax < Math.Abs(v))
            {
                amax = Math.Abs(v);
                max = v;
            }
        }
        float d = max / -8f;
        float id = d != 0 ? 1f / d : 0f;
        *(ushort*)y = BitConverter.HalfToUInt16Bits((Half)d);
        byte* qs = y + 2;
        for (int j = 0; j < 16; j++)
        {
            int n0 = Math.Min(15, (int)(x[j] * id + 8.5f));        // (int) truncates toward zero, as C's (int8_t) cast
            int n1 = Math.Min(15, (int)(x[j + 16] * id + 8.5f));
            qs[j] = (byte)(n0 | (n1 << 4));
        }
    }
}
