using System.Runtime.CompilerServices;

namespace Qwen3Gen.Kernels;

/// <summary>
/// bfloat16: the upper 16 bits of an IEEE float32. .NET 10 has no BF16 type, so this is ours.
/// Widening is exact (<c>bits &lt;&lt; 16</c>); narrowing rounds to nearest even, as PyTorch does.
/// </summary>
public readonly struct BF16 : IEquatable<BF16>
{
    public readonly ushort Bits;

    public BF16(ushort bits) => Bits = bits;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float ToSingle() => BitConverter.Int32BitsToSingle(Bits << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static BF16 FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return new BF16((ushort)((bits >> 16) | 0x40)); // keep it a (quiet) NaN
        uint rounding = 0x7FFF + ((bits >> 16) & 1);                           // round to nearest, ties to even
        return new BF16((ushort)((bits + rounding) >> 16));
    }

    public static explicit operator float(BF16 value) => value.ToSingle();

    public static explicit operator BF16(float value) => FromSingle(value);

    public bool Equals(BF16 other) => Bits == other.Bits;

    public override bool Equals(object? obj) => obj is BF16 other && Equals(other);

    public override int GetHashCode() => Bits;

    public override string ToString() => ToSingle().ToString(System.Globalization.CultureInfo.InvariantCulture);
}
