namespace Qwen3Gen.Checkpoints;

/// <summary>
/// One tensor of a GGUF file as its tensor info describes it, validated: <see cref="Ne"/> lists the dimensions
/// innermost first (<c>ne[0]</c> is the row length; the PyTorch shape is <c>ne</c> reversed), <see cref="Offset"/>
/// is relative to the data section and aligned, and [Offset, Offset + ByteLength) lies inside the file.
/// </summary>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Ne, long Offset, long ByteLength)
{
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Ne) n *= d;
            return n;
        }
    }

    /// <summary>Elements per row (<c>ne[0]</c>).</summary>
    public long RowLength => Ne[0];

    /// <summary>Number of rows: the product of <c>ne[1..]</c>.</summary>
    public long Rows => ElementCount / Ne[0];

    /// <summary>Bytes of one row.</summary>
    public long RowBytes => GgmlTypes.RowBytes(Type, Ne[0]);

    /// <summary>The PyTorch shape: <c>ne</c> reversed.</summary>
    public long[] Shape
    {
        get
        {
            var shape = (long[])Ne.Clone();
            Array.Reverse(shape);
            return shape;
        }
    }

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <summary>True when the PyTorch shape equals <paramref name="shape"/>.</summary>
    public bool ShapeEquals(ReadOnlySpan<int> shape)
    {
        if (shape.Length != Ne.Length) return false;
        for (int i = 0; i < shape.Length; i++)
            if (Ne[Ne.Length - 1 - i] != shape[i]) return false;
        return true;
    }
}
