namespace Qwen3Gen.Kernels;

/// <summary>
/// One layer's keys (or values) in a compact format: element e = (slot · capacity + position) · KvDim + head · HeadDim + d.
/// BF16 / F16 store 2-byte codes in <see cref="Data"/>; Q8_0 stores int8 codes in <see cref="Data"/> and one half-float
/// scale per <see cref="Block"/> elements in <see cref="Scales"/> (blocks never cross a head row).
/// </summary>
public readonly unsafe struct KvRows
{
    public readonly KvCacheFormat Format;
    public readonly byte* Data;
    public readonly Half* Scales;
    public readonly int Block;

    public KvRows(KvCacheFormat format, byte* data, Half* scales, int block)
    {
        Format = format; Data = data; Scales = scales; Block = block;
    }

    /// <summary>Allocates <paramref name="elements"/> elements from <paramref name="arena"/> for a head of <paramref name="headDim"/>.</summary>
    public static KvRows Allocate(Arena arena, KvCacheFormat format, long elements, int headDim)
    {
        switch (format)
        {
            case KvCacheFormat.BF16:
            case KvCacheFormat.F16:
                return new KvRows(format, (byte*)arena.Floats((elements + 1) / 2), null, 0);
            case KvCacheFormat.Q8_0:
                int block = KvCacheFormats.Q8Block(headDim);
                long scales = elements / block;
                return new KvRows(format, (byte*)arena.Floats((elements + 3) / 4), (Half*)arena.Floats((scales + 1) / 2), block);
            default:
                throw new ArgumentException("F32 caches are plain float arrays, not KvRows.", nameof(format));
        }
    }
}
