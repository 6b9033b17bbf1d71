using Qwen3Gen.Checkpoints;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// A rank's part of a whole tensor (<see cref="SlicedTensor"/>), copied out of the whole: a block of rows is one
/// contiguous range, a block of columns one short range per row. Used to cut a slice out of values made for the whole
/// model (initial weights) and to read a slice of a tensor stored inside a flat one (AdamW's moments in a checkpoint,
/// kept in the one-process layout).
/// </summary>
public static class TensorSlices
{
    /// <summary>Copies the part of <paramref name="full"/> (row-major, <paramref name="t"/>'s full shape) that the rank holds into <paramref name="local"/>.</summary>
    public static void Take(SlicedTensor t, ReadOnlySpan<float> full, Span<float> local)
    {
        foreach (var (from, to, n) in Runs(t)) full.Slice(checked((int)from), n).CopyTo(local.Slice(checked((int)to), n));
    }

    /// <summary>
    /// Reads the rank's part of tensor <paramref name="t"/> from <paramref name="file"/>'s F32 (or BF16, widened) tensor
    /// <paramref name="name"/>, where the whole of t starts at element <paramref name="fullOffset"/> (0 for a tensor stored
    /// under its own name; its offset in the one-process layout for a flat tensor such as "optimizer.m").
    /// </summary>
    public static void Read(SafeTensorsFile file, string name, long fullOffset, SlicedTensor t, Span<float> local)
    {
        foreach (var (from, to, n) in Runs(t)) file.ReadF32(name, fullOffset + from, local.Slice(checked((int)to), n));
    }

    /// <summary>The contiguous runs of the rank's part: (offset in the whole tensor, offset in the local slice, elements).</summary>
    public static IEnumerable<(long From, long To, int Count)> Runs(SlicedTensor t)
    {
        int rows = t.Local.Shape[0], cols = t.Local.Shape.Length > 1 ? t.Local.Shape[1] : 1;
        int fullCols = t.FullShape.Length > 1 ? t.FullShape[1] : 1;
        switch (t.Kind)
        {
            case SplitKind.Rows:
                yield return ((long)t.Start * fullCols, 0, checked(rows * cols));
                break;
            case SplitKind.Columns:
                for (int r = 0; r < rows; r++) yield return ((long)r * fullCols + t.Start, (long)r * cols, cols);
                break;
            default:
                yield return (0, 0, checked((int)t.Local.Length));
                break;
        }
    }
}
