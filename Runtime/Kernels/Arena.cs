namespace Qwen3Gen;

/// <summary>
/// Hands out zeroed float/int buffers that live as long as the arena: work buffers are allocated once,
/// when a model reserves a batch size, and reused by every call (no allocation per step).
/// </summary>
public sealed unsafe class Arena : IDisposable
{
    private readonly List<IDisposable> _blocks = [];

    /// <summary>Bytes allocated so far.</summary>
    public long Bytes { get; private set; }

    public float* Floats(long count)
    {
        var block = new NativeBuffer<float>(count);
        _blocks.Add(block);
        Bytes += count * sizeof(float);
        return block.Pointer;
    }

    public int* Ints(long count)
    {
        var block = new NativeBuffer<int>(count);
        _blocks.Add(block);
        Bytes += count * sizeof(int);
        return block.Pointer;
    }

    public void Dispose()
    {
        foreach (var block in _blocks) block.Dispose();
        _blocks.Clear();
    }
}
