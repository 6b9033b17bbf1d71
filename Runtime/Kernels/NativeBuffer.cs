using System.Runtime.InteropServices;

namespace Qwen3Gen.Kernels;

/// <summary>
/// A 64-byte aligned block (2 MiB aligned, in transparent huge pages, when it is big: <see cref="HugePages"/>) of native memory of <typeparamref name="T"/>, zeroed at allocation.
/// Model parameters, gradients and activations live in these: no GC pressure, no 2^31 element limit,
/// and pointers that kernels and worker threads can share. Allocate once, reuse (fresh pages are slow).
/// </summary>
public sealed unsafe class NativeBuffer<T> : IDisposable where T : unmanaged
{
    private T* _pointer;

    public NativeBuffer(long length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "Length must not be negative.");
        Length = length;
        nuint bytes = (nuint)Math.Max(1, length) * (nuint)sizeof(T);
        _pointer = (T*)NativeMemory.AlignedAlloc(bytes, HugePages.Alignment(bytes));
        HugePages.Advise(_pointer, bytes);                                  // before the first touch (the clear)
        NativeMemory.Clear(_pointer, bytes);
        NativeMemoryStats.Allocated((long)bytes);
    }

    public long Length { get; }

    public T* Pointer => _pointer != null ? _pointer : throw new ObjectDisposedException(nameof(NativeBuffer<T>));

    /// <summary>A span over [offset, offset + length).</summary>
    public Span<T> Slice(long offset, int length)
    {
        if ((ulong)offset > (ulong)Length || (ulong)length > (ulong)(Length - offset))
            throw new ArgumentOutOfRangeException(nameof(offset), $"Slice [{offset}, {offset + length}) is outside the buffer of {Length}.");
        return new Span<T>(Pointer + offset, length);
    }

    public void Clear() => NativeMemory.Clear(Pointer, (nuint)Length * (nuint)sizeof(T));

    public void Dispose()
    {
        if (_pointer != null)
        {
            NativeMemory.AlignedFree(_pointer);
            _pointer = null;
            NativeMemoryStats.Freed(Math.Max(1, Length) * sizeof(T));
        }
        GC.SuppressFinalize(this);
    }

    ~NativeBuffer() => Dispose();
}
