namespace Qwen3Gen.Quantization;

/// <summary>
/// GGML's reference quantisers for the 256-element K-quant super-blocks (ggml-quants.c <c>quantize_row_q4_K_ref</c>,
/// <c>quantize_row_q5_K_ref</c>, <c>quantize_row_q6_K_ref</c>: what llama-quantize writes without an importance
/// matrix), reproduced operation for operation in float32 so that the blocks are bit-identical:
/// <list type="bullet">
/// <item>Q4_K / Q5_K: each sub-block of 32 gets an affine fit <c>x ≈ scale · l − min</c>, l ∈ 0..nmax (15 or 31),
///   chosen by <see cref="FitAffine"/>: a weighted least-squares refit of the rounding for a few trial grid
///   spacings, weights <c>√(mean x²) + |x|</c>. The 8 scales and 8 mins are then quantised to 6 bits against the
///   super-block's largest (fp16 <c>d</c> = max scale / 63, <c>dmin</c> = max min / 63) and the quants re-rounded
///   against those stored scales.</item>
/// <item>Q6_K: each sub-block of 16 gets a symmetric scale from <see cref="FitSymmetric"/> (the signed extreme
///   mapped to −32, then 18 nearby spacings tried, weights x²); the 16 scales are quantised to int8 against the
///   largest (fp16 <c>d</c> = max / −128) and the quants (−32..31) re-rounded against the stored scales.</item>
/// </list>
/// Every sum runs in element order in float32, as in the C source (compiled without FMA contraction), so the choices
/// are the same; rounding to an integer is round-half-to-even (<see cref="NearestInt"/>).
/// </summary>
internal static unsafe class KQuantize
{
    private const float GroupMaxEps = 1e-15f;

    /// <summary>Q4_K: 144 bytes = fp16 d, fp16 dmin, 12 bytes of packed 6-bit scales/mins, 128 bytes of nibbles.</summary>
    public static void Q4_K(float* x, byte* y) => Affine(x, y, nmax: 15, rmin: -1f, rdelta: 0.1f, nstep: 20);

    /// <summary>Q5_K: 176 bytes = fp16 d, fp16 dmin, 12 scale bytes, 32 bytes of fifth bits, 128 bytes of nibbles.</summary>
    public static void Q5_K(float* x, byte* y) => Affine(x, y, nmax: 31, rmin: -0.5f, rdelta: 0.1f, nstep: 15);

    private static void Affine(float* x, byte* y, int nmax, float rmin, float rdelta, int nstep)
    {
        byte* l = stackalloc byte[256];
        byte* aux = stackalloc byte[32];
        float* weights = stackalloc float[32];
        float* scales = stackalloc float[8];
        float* mins = stackalloc float[8];

        float maxScale = 0, maxMin = 0;   // the fit subtracts the min, so both are ≥ 0
        for (int j = 0; j < 8; j++)
        {
            float* xs = x + 32 * j;
            float sumX2 = 0;
            for (int i = 0; i < 32; i++) sumX2 += xs[i] * xs[i];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int i = 0; i < 32; i++) weights[i] = avX + MathF.Abs(xs[i]);
            scales[j] = FitAffine(xs, weights, nmax, l + 32 * j, aux, rmin, rdelta, nstep, out mins[j]);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }

        // 6-bit scales and mins, packed as in the block format (Dequantize.ScaleMin reads them back).
        byte* packed = y + 4;
        for (int k = 0; k < 12; k++) packed[k] = 0;
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        for (int j = 0; j < 8; j++)
        {
            byte ls = Math.Min((byte)63, (byte)NearestInt(invScale * scales[j]));   // C: uint8_t, then MIN(63, ·)
            byte lm = Math.Min((byte)63, (byte)NearestInt(invMin * mins[j]));
            if (j < 4)
            {
                packed[j] = ls;
                packed[j + 4] = lm;
            }
            else
            {
                packed[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                packed[j - 4] |= (byte)((ls >> 4) << 6);
                packed[j] |= (byte)((lm >> 4) << 6);
            }
        }
        Half d = (Half)(maxScale / 63f), dmin = (Half)(maxMin / 63f);
        *(ushort*)y = BitConverter.HalfToUInt16Bits(d);
        *(ushort*)(y + 2) = BitConverter.HalfToUInt16Bits(dmin);

        // Re-round every element against the scale and min as stored; a sub-block whose stored scale is 0 keeps the
        // fit's quants.
        for (int j = 0; j < 8; j++)
        {
            Dequantize.ScaleMin(j, packed, out int sc, out int m);
            float dj = (float)d * sc;
            if (dj == 0) continue;
            float dm = (float)dmin * m;
            for (int i = 0; i < 32; i++)
                l[32 * j + i] = (byte)Math.Clamp(NearestInt((x[32 * j + i] + dm) / dj), 0, nmax);
        }

        if (nmax == 15)
        {
            // Chunk c of 32 bytes: sub-block 2c in the low nibbles, 2c + 1 in the high ones.
            byte* q = y + 16;
            for (int c = 0; c < 4; c++)
                for (int i = 0; i < 32; i++) q[32 * c + i] = (byte)(l[64 * c + i] | (l[64 * c + 32 + i] << 4));
        }
        else
        {
            // The low 4 bits as Q4_K's nibbles; bit 4 of sub-block j's element i goes to bit j of qh[i].
            byte* qh = y + 16;
            byte* q = y + 48;
            for (int i = 0; i < 32; i++) qh[i] = 0;
            for (int c = 0; c < 4; c++)
                for (int i = 0; i < 32; i++)
                {
                    int lo = l[64 * c + i], hi = l[64 * c + 32 + i];
                    qh[i] |= (byte)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
                    q[32 * c + i] = (byte)((lo & 15) | ((hi & 15) << 4));
                }
        }
    }

    /// <summary>Q6_K: 210 bytes = 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 int8 scales, fp16 d (last).</summary>
    public static void Q6_K(float* x, byte* y)
    {
        sbyte* l = stackalloc sbyte[256];
        float* scales = stackalloc float[16];
        float maxScale = 0, maxAbsScale = 0;
        for (int b = 0; b < 16; b++)
        {
            float s = FitSymmetric(x + 16 * b, l + 16 * b, nmax: 32);
            scales[b] = s;
            if (MathF.Abs(s) > maxAbsScale)
            {
                maxAbsScale = MathF.Abs(s);
                maxScale = s;
            }
        }
        if (maxAbsScale < GroupMaxEps)
        {
            for (int k = 0; k < 210; k++) y[k] = 0;
            return;
        }

        sbyte* stored = (sbyte*)(y + 192);
        float iscale = -128f / maxScale;
        Half d = (Half)(1 / iscale);
        *(ushort*)(y + 208) = BitConverter.HalfToUInt16Bits(d);
        for (int b = 0; b < 16; b++) stored[b] = (sbyte)Math.Min(127, NearestInt(iscale * scales[b]));
        for (int b = 0; b < 16; b++)
        {
            float db = (float)d * stored[b];
            if (db == 0) continue;
            for (int i = 0; i < 16; i++)
                l[16 * b + i] = (sbyte)(Math.Clamp(NearestInt(x[16 * b + i] / db), -32, 31) + 32);
        }

        // Half h: element 128h + 32k + i has its low 4 bits in ql[64h + i] (k = 0, 2: low / high nibble) or
        // ql[64h + 32 + i] (k = 1, 3), its high 2 bits at bits 2k..2k+1 of qh[32h + i].
        byte* ql = y, qh = y + 128;
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < 32; i++)
            {
                int e = 128 * h + i;
                int q1 = l[e], q2 = l[e + 32], q3 = l[e + 64], q4 = l[e + 96];
                ql[64 * h + i] = (byte)((q1 & 15) | ((q3 & 15) << 4));
                ql[64 * h + 32 + i] = (byte)((q2 & 15) | ((q4 & 15) << 4));
                qh[32 * h + i] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
    }

    /// <summary>
    /// ggml's <c>make_qkx2_quants</c> with squared error: fits <c>x ≈ scale · l + min'</c> (min' ≤ 0, returned as
    /// <paramref name="min"/> = −min') with l ∈ 0..<paramref name="nmax"/>. Start: the grid spanning [min(x, 0), max x];
    /// then for spacings <c>(nmax + rmin + rdelta·s) / range</c>, s = 0..nstep, round, and take the weighted
    /// least-squares scale and offset of that rounding (offset clamped to ≤ 0); keep the rounding with the smallest
    /// weighted squared error.
    /// </summary>
    private static float FitAffine(float* x, float* w, int nmax, byte* l, byte* aux, float rmin, float rdelta, int nstep, out float min)
    {
        const int n = 32;
        float lo = x[0], hi = x[0];
        float sumW = w[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < lo) lo = x[i];
            if (x[i] > hi) hi = x[i];
            sumW += w[i];
            sumX += w[i] * x[i];
        }
        if (lo > 0) lo = 0;
        if (hi == lo)
        {
            for (int i = 0; i < n; i++) l[i] = 0;
            min = -lo;
            return 0f;
        }
        float iscale = nmax / (hi - lo);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            l[i] = (byte)Math.Clamp(NearestInt(iscale * (x[i] - lo)), 0, nmax);
            float diff = scale * l[i] + lo - x[i];
            bestError += w[i] * (diff * diff);
        }
        for (int s = 0; s <= nstep; s++)
        {
            iscale = (rmin + rdelta * s + nmax) / (hi - lo);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int q = Math.Clamp(NearestInt(iscale * (x[i] - lo)), 0, nmax);
                aux[i] = (byte)q;
                sumL += w[i] * q;
                sumL2 += w[i] * q * q;
                sumXL += w[i] * q * x[i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det <= 0) continue;
            float thisScale = (sumW * sumXL - sumX * sumL) / det;
            float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
            if (thisMin > 0)
            {
                thisMin = 0;
                thisScale = sumXL / sumL2;
            }
            float error = 0;
            for (int i = 0; i < n; i++)
            {
                float diff = thisScale * aux[i] + thisMin - x[i];
                error += w[i] * (diff * diff);
            }
            if (error < bestError)
            {
                for (int i = 0; i < n; i++) l[i] = aux[i];
                bestError = error;
                scale = thisScale;
                lo = thisMin;
            }
        }
        min = -lo;
        return scale;
    }

    /// <summary>
    /// ggml's <c>make_qx_quants</c> with weights x² (rmse_type 1) on 16 elements: l ∈ −nmax..nmax−1 (stored + nmax).
    /// The signed extreme m is mapped to −nmax (spacing −nmax/m), then spacings −(nmax + 0.1·s)/m, s = −9..9, are
    /// tried; each rounding's least-squares scale Σwxl/Σwl² is kept when it explains more (Σwxl)²/Σwl².
    /// </summary>
    private static float FitSymmetric(float* x, sbyte* l, int nmax)
    {
        const int n = 16;
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax)
            {
                amax = ax;
                max = x[i];
            }
        }
        if (amax < GroupMaxEps)
        {
            for (int i = 0; i < n; i++) l[i] = 0;
            return 0f;
        }
        float iscale = -nmax / max;
        float sumLX = 0, sumL2 = 0;
        for (int i = 0; i < n; i++)
        {
            int q = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
            l[i] = (sbyte)(q + nmax);
            float w = x[i] * x[i];
            sumLX += w * x[i] * q;
            sumL2 += w * q * q;
        }
        float scale = sumL2 != 0 ? sumLX / sumL2 : 0f;
        float best = scale * sumLX;
        for (int s = -9; s <= 9; s++)
        {
            if (s == 0) continue;
            iscale = -(nmax + 0.1f * s) / max;
            sumLX = sumL2 = 0;
            for (int i = 0; i < n; i++)
            {
                int q = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
                float w = x[i] * x[i];
                sumLX += w * x[i] * q;
                sumL2 += w * q * q;
            }
            if (sumL2 > 0 && sumLX * sumLX > best * sumL2)
            {
                for (int i = 0; i < n; i++) l[i] = (sbyte)(nmax + Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1));
                scale = sumLX / sumL2;
                best = scale * sumLX;
            }
        }
        return scale;
    }

    /// <summary>
    /// ggml's <c>nearest_int</c>: adding 1.5·2²³ leaves the float's integer part in the low mantissa bits, rounded half
    /// to even by the addition itself (valid for |v| ≤ 2²² − 1, which every caller's arguments respect).
    /// </summary>
    private static int NearestInt(float v)
    {
        float shifted = v + 12582912f;
        return (BitConverter.SingleToInt32Bits(shifted) & 0x007fffff) - 0x00400000;
    }
}
