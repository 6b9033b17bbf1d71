namespace Qwen3Gen.Kernels;

/// <summary>
/// How a decoding session stores its keys and values (chosen per session: <c>CreateSession(..., cacheFormat)</c>,
/// CLI <c>--cache-type</c>). Training always keeps F32.
/// </summary>
public enum KvCacheFormat
{
    /// <summary>float32: exact (4 bytes per element).</summary>
    F32,
    /// <summary>bfloat16, rounded to nearest even (2 bytes): float32's range, 8 bits of mantissa.</summary>
    BF16,
    /// <summary>IEEE half (2 bytes): 11 bits of mantissa, range ±65504 (keys and values after QK-norm stay far inside).</summary>
    F16,
    /// <summary>
    /// llama.cpp's q8_0 on each head row: blocks of 32 elements (a whole head row when HeadDim is not a multiple of 32),
    /// d = max|x| / 127 stored as half, q = round(x / d) in int8: 34 bytes per 32 elements (1.06 bytes per element).
    /// </summary>
    Q8_0,
}

/// <summary>Names and sizes of the cache formats.</summary>
public static class KvCacheFormats
{
    /// <summary>The CLI / llama.cpp spelling: f32, bf16, f16, q8_0.</summary>
    public static string Name(this KvCacheFormat format) => format switch
    {
        KvCacheFormat.F32 => "f32",
        KvCacheFormat.BF16 => "bf16",
        KvCacheFormat.F16 => "f16",
        _ => "q8_0",
    };

    /// <summary>Parses f32 / bf16 / f16 / q8_0 (case-insensitive); null when unknown.</summary>
    public static KvCacheFormat? Parse(string text) => text.ToLowerInvariant() switch
    {
        "f32" => KvCacheFormat.F32,
        "bf16" => KvCacheFormat.BF16,
        "f16" => KvCacheFormat.F16,
        "q8_0" => KvCacheFormat.Q8_0,
        _ => null,
    };

    /// <summary>Elements per Q8_0 scale for a head of <paramref name="headDim"/>: 32, or the whole head row.</summary>
    public static int Q8Block(int headDim) => headDim % 32 == 0 ? 32 : headDim;

    /// <summary>Bytes of one cached position of one layer, keys and values together, for KvDim = kvHeads · headDim.</summary>
    public static long BytesPerPosition(this KvCacheFormat format, int kvHeads, int headDim)
    {
        long elements = (long)kvHeads * headDim;
        long one = format switch
        {
            KvCacheFormat.F32 => 4 * elements,
            KvCacheFormat.BF16 or KvCacheFormat.F16 => 2 * elements,
            _ => elements + 2 * (elements / Q8Block(headDim)),
        };
        return 2 * one;
    }
}
