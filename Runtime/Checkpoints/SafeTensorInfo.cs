namespace Qwen3Gen.Checkpoints;

/// <summary>
/// One tensor of a safetensors file as its header describes it: dtype, shape, and the byte range
/// [<see cref="Begin"/>, <see cref="End"/>) relative to the start of the data section.
/// Only ever built from a validated header, so <c>End - Begin == ElementCount * dtype size</c>.
/// </summary>
public sealed record SafeTensorInfo(string Name, SafeTensorsDType DType, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements: the product of the shape (1 for a scalar, shape []).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    public long ByteLength => End - Begin;

    public string ShapeText => FormatShape(Shape);

    internal static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>True when the shape equals <paramref name="shape"/> dimension by dimension.</summary>
    public bool ShapeEquals(ReadOnlySpan<int> shape)
    {
        if (shape.Length != Shape.Length) return false;
        for (int i = 0; i < shape.Length; i++)
            if (Shape[i] != shape[i]) return false;
        return true;
    }
}
