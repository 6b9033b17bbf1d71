using Qwen3Gen.Models;

namespace Qwen3Gen.Quantization;

/// <summary>
/// One weight row of GGML blocks as int8 quants, a float scale per 16 elements and a float min per 32, so that
/// w[e] = scale[e / 16] · q[e] − min[e / 32] exactly as the dequantiser computes it (<see cref="Dequantize"/>).
/// Q8_0: q as stored, scale d; Q4_0: q = n − 8, scale d; Q4_K / Q5_K: q = n (0..15 / 0..31), scale d·sc, min dmin·m;
/// Q6_K: q = n − 32, scale d·scale[e / 16].
/// </summary>
internal static unsafe class Unpack
{
    public static void Row(MatrixFormat format, byte* row, sbyte* q, float* scale, float* min, int n)
    {
        switch (format)
        {
            case MatrixFormat.Q8_0:
                for (int b = 0; b < n / 32; b++) Q8_0(row + 34 * b, q + 32 * b, scale + 2 * b, min + b);
                break;
            case MatrixFormat.Q4_0:
                for (int b = 0; b < n / 32; b++) Q4_0(row + 18 * b, q + 32 * b, scale + 2 * b, min + b);
                break;
            case MatrixFormat.Q4_K:
                for (int b = 0; b < n / 256; b++) Q4_K(row + 144 * b, q + 256 * b, scale + 16 * b, min + 8 * b);
                break;
            case MatrixFormat.Q5_K:
                for (int b = 0; b < n / 256; b++) Q5_K(row + 176 * b, q + 256 * b, scale + 16 * b, min + 8 * b);
                break;
            case MatrixFormat.Q6_K:
                for (int b = 0; b < n / 256; b++) Q6_K(row + 210 * b, q + 256 * b, scale + 16 * b, min + 8 * b);
                break;
            default:
                throw new NotSupportedException($"{format} is not a block format.");
        }
    }

    private static void Q8_0(byte* x, sbyte* q, float* scale, float* min)
    {
        float d = Dequantize.Half16(x);
        new ReadOnlySpan<sbyte>(x + 2, 32).CopyTo(new Span<sbyte>(q, 32));
        scale[0] = scale[1] = d;
        min[0] = 0;
    }

    private static void Q4_0(byte* x, sbyte* q, float* scale, float* min)
    {
        float d = Dequantize.Half16(x);
        byte* qs = x + 2;
        for (int j = 0; j < 16; j++)
        {
            q[j] = (sbyte)((qs[j] & 15) - 8);
            q[j + 16] = (sbyte)((qs[j] >> 4) - 8);
        }
        scale[0] = scale[1] = d;
        min[0] = 0;
    }

    private static void Q4_K(byte* x, sbyte* q, float* scale, float* min)
    {
        float d = Dequantize.Half16(x), dmin = Dequantize.Half16(x + 2);
        byte* sc = x + 4;
        byte* qs = x + 16;
        for (int c = 0; c < 4; c++)
        {
            for (int h = 0; h < 2; h++)
            {
                Dequantize.ScaleMin(2 * c + h, sc, out int s, out int m);
                scale[2 * (2 * c + h)] = scale[2 * (2 * c + h) + 1] = d * s;
                min[2 * c + h] = dmin * m;
            }
            byte* src = qs + 32 * c;
            for (int l = 0; l < 32; l++)
            {
                q[64 * c + l] = (sbyte)(src[l] & 15);
                q[64 * c + 32 + l] = (sbyte)(src[l] >> 4);
            }
        }
    }

    private static void Q5_K(byte* x, sbyte* q, float* scale, float* min)
    {
        float d = Dequantize.Half16(x), dmin = Dequantize.Half16(x + 2);
        byte* sc = x + 4;
        byte* qh = x + 16;
        byte* qs = x + 48;
        for (int c = 0; c < 4; c++)
        {
            for (int h = 0; h < 2; h++)
            {
                Dequantize.ScaleMin(2 * c + h, sc, out int s, out int m);
                scale[2 * (2 * c + h)] = scale[2 * (2 * c + h) + 1] = d * s;
                min[2 * c + h] = dmin * m;
            }
            byte* src = qs + 32 * c;
            for (int l = 0; l < 32; l++)
            {
                q[64 * c + l] = (sbyte)((src[l] & 15) + (((qh[l] >> (2 * c)) & 1) << 4));
                q[64 * c + 32 + l] = (sbyte)((src[l] >> 4) + (((qh[l] >> (2 * c + 1)) & 1) << 4));
            }
        }
    }

    private static void Q6_K(byte* x, sbyte* q, float* scale, float* min)
    {
        byte* ql = x;
        byte* qh = x + 128;
        sbyte* sc = (sbyte*)(x + 192);
        float d = Dequantize.Half16(x + 208);
        for (int g = 0; g < 16; g++) scale[g] = d * sc[g];
        for (int b = 0; b < 8; b++) min[b] = 0;
        for (int h = 0; h < 2; h++)
        {
            byte* L = ql + 64 * h;
            byte* H = qh + 32 * h;
            sbyte* o = q + 128 * h;
            for (int l = 0; l < 32; l++)
            {
                o[l] = (sbyte)(((L[l] & 15) | ((H[l] & 3) << 4)) - 32);
                o[l + 32] = (sbyte)(((L[l + 32] & 15) | (((H[l] >> 2) & 3) << 4)) - 32);
                o[l + 64] = (sbyte)(((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32);
                o[l + 96] = (sbyte)(((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32);
            }
        }
    }
}
