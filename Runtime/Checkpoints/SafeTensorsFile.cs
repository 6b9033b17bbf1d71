using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// A safetensors file opened read-only and memory-mapped: the header is parsed and validated once
/// (<see cref="SafeTensorsHeader"/>), tensors are read straight from the mapped pages, converted on the fly,
/// so a multi-GB checkpoint costs no copy beyond its destination. Reads are safe from many threads.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>Elements converted per step: spans stay below int.MaxValue bytes for any tensor size.</summary>
    private const int Chunk = 1 << 20;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _base;          // first byte of the file
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _tensors;

    private SafeTensorsFile(string path)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors reading assumes a little-endian machine.");
        Path = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(Path)) throw new IOException($"'{Path}' is a directory, not a safetensors file.");
        if (!File.Exists(Path)) throw new FileNotFoundException($"Safetensors file '{Path}' does not exist.", Path);
        RegularFiles.CheckRegular(Path, "safetensors file");   // a FIFO would block the open forever

        // Delete sharing: a trainer may atomically replace this file while a reader still has it open.
        var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        try
        {
            FileLength = stream.Length;
            // An empty file cannot be mapped; ReadHeaderLength throws the clear message for it.
            Span<byte> first8 = stackalloc byte[8];
            if (FileLength >= 8) stream.ReadExactly(first8);
            long headerLength = SafeTensorsHeader.ReadHeaderLength(first8, FileLength, Path);
            _dataStart = 8 + headerLength;
            DataLength = FileLength - _dataStart;

            var json = new byte[headerLength];
            stream.ReadExactly(json);
            (_tensors, var metadata) = SafeTensorsHeader.Parse(json, DataLength, Path);
            Metadata = metadata;

            _map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
        try
        {
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            _base = pointer + _view.PointerOffset;
        }
        catch
        {
            _view?.Dispose();
            _map.Dispose();
            throw;
        }
    }

    /// <summary>Opens and validates <paramref name="path"/>; a damaged file throws <see cref="InvalidDataException"/>.</summary>
    public static SafeTensorsFile Open(string path) => new(path);

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    public long FileLength { get; }

    /// <summary>Bytes after the header (tensor offsets are relative to its start).</summary>
    public long DataLength { get; }

    /// <summary>Every tensor by name, validated.</summary>
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors => _tensors;

    /// <summary>The header's <c>__metadata__</c> (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>The tensor called <paramref name="name"/>, or an error naming the file.</summary>
    public SafeTensorInfo this[string name] => _tensors.TryGetValue(name, out var info)
        ? info
        : throw new KeyNotFoundException($"'{Path}' has no tensor '{name}'.");

    /// <summary>The tensor's raw little-endian bytes, valid until Dispose. Tensors of 2 GiB or more: use <see cref="CopyBytes"/>.</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var info = this[name];
        if (info.ByteLength > int.MaxValue)
            throw new NotSupportedException($"'{Path}', tensor '{name}': {info.ByteLength} bytes do not fit one span; use CopyBytes in chunks.");
        return new ReadOnlySpan<byte>(Data(info), (int)info.ByteLength);
    }

    /// <summary>Copies bytes [<paramref name="byteOffset"/>, + destination.Length) of the tensor's data.</summary>
    public void CopyBytes(string name, long byteOffset, Span<byte> destination)
    {
        var info = this[name];
        if (byteOffset < 0 || byteOffset > info.ByteLength || destination.Length > info.ByteLength - byteOffset)
            throw new ArgumentOutOfRangeException(nameof(byteOffset),
                $"'{Path}', tensor '{name}': bytes [{byteOffset}, {byteOffset + destination.Length}) are outside its {info.ByteLength} bytes.");
        new ReadOnlySpan<byte>(Data(info) + byteOffset, destination.Length).CopyTo(destination);
    }

    /// <summary>Reads the whole tensor as float32 (from F32, BF16, F16 or F64).</summary>
    public void ReadF32(string name, Span<float> destination)
    {
        CheckWhole(this[name], destination.Length);
        ReadF32(name, 0, destination);
    }

    /// <summary>Reads elements [<paramref name="firstElement"/>, + destination.Length) as float32.</summary>
    public void ReadF32(string name, long firstElement, Span<float> destination)
    {
        var info = this[name];
        CheckFloat(info, "float32");
        CheckRange(info, firstElement, destination.Length);
        fixed (float* pointer = destination) ReadF32(info, firstElement, pointer, destination.Length);
    }

    /// <summary>Reads the whole tensor as BF16 (copied from BF16; rounded to nearest even from F32, F16, F64).</summary>
    public void ReadBF16(string name, Span<BF16> destination)
    {
        CheckWhole(this[name], destination.Length);
        ReadBF16(name, 0, destination);
    }

    /// <summary>Reads elements [<paramref name="firstElement"/>, + destination.Length) as BF16.</summary>
    public void ReadBF16(string name, long firstElement, Span<BF16> destination)
    {
        var info = this[name];
        CheckFloat(info, "BF16");
        CheckRange(info, firstElement, destination.Length);
        fixed (BF16* pointer = destination) ReadBF16(info, firstElement, pointer, destination.Length);
    }

    /// <summary>Reads the whole tensor as int64 (from I64, or widened from I32).</summary>
    public void ReadI64(string name, Span<long> destination)
    {
        var info = this[name];
        if (info.DType is not (SafeTensorsDType.I64 or SafeTensorsDType.I32))
            throw new InvalidDataException($"'{Path}', tensor '{name}': dtype {info.DType} cannot be read as int64 (I64 or I32 expected).");
        CheckWhole(info, destination.Length);
        var bytes = new ReadOnlySpan<byte>(Data(info), checked((int)info.ByteLength));
        if (info.DType == SafeTensorsDType.I64)
            MemoryMarshal.Cast<byte, long>(bytes).CopyTo(destination);
        else
        {
            var ints = MemoryMarshal.Cast<byte, int>(bytes);
            for (int i = 0; i < ints.Length; i++) destination[i] = ints[i];
        }
    }

    /// <summary>Convenience: the whole tensor as a new float32 array (small tensors, tests, fixtures).</summary>
    public float[] ReadF32Array(string name)
    {
        var result = new float[checked((int)this[name].ElementCount)];
        ReadF32(name, result);
        return result;
    }

    /// <summary>Convenience: the whole tensor as a new int64 array.</summary>
    public long[] ReadI64Array(string name)
    {
        var result = new long[checked((int)this[name].ElementCount)];
        ReadI64(name, result);
        return result;
    }

    /// <summary>
    /// Converts <paramref name="count"/> elements from <paramref name="firstElement"/> into <paramref name="destination"/>, chunk by
    /// chunk, handing each chunk's file pages back after the copy (<see cref="ReleasePages"/>): loading a model then holds the
    /// copy only, not the copy plus the mapped file (an F32 checkpoint loaded into BF16 weights would otherwise peak at three
    /// times their size).
    /// </summary>
    internal void ReadF32(SafeTensorInfo info, long firstElement, float* destination, long count)
    {
        int size = info.DType.Size();
        byte* source = Data(info) + firstElement * size;
        for (long done = 0; done < count; done += Chunk)
        {
            int n = (int)Math.Min(Chunk, count - done);
            TensorConvert.ToSingle(info.DType, new ReadOnlySpan<byte>(source + done * size, n * size), new Span<float>(destination + done, n));
            ReleasePages(source + done * size, (long)n * size);
        }
    }

    internal void ReadBF16(SafeTensorInfo info, long firstElement, BF16* destination, long count)
    {
        int size = info.DType.Size();
        byte* source = Data(info) + firstElement * size;
        for (long done = 0; done < count; done += Chunk)
        {
            int n = (int)Math.Min(Chunk, count - done);
            TensorConvert.ToBF16(info.DType, new ReadOnlySpan<byte>(source + done * size, n * size), new Span<BF16>(destination + done, n));
            ReleasePages(source + done * size, (long)n * size);
        }
    }

    /// <summary>
    /// Drops the whole pages of [start, start + length) from this process's resident set (Linux madvise MADV_DONTNEED). The
    /// mapping is a read-only view of the file, so nothing is lost: the pages stay in the page cache, and a later read
    /// maps them again. Advisory only; elsewhere, or on failure, nothing happens.
    /// </summary>
    private static void ReleasePages(byte* start, long length)
    {
        if (!OperatingSystem.IsLinux()) return;
        long page = Environment.SystemPageSize, first = ((long)start + page - 1) / page * page, end = ((long)start + length) / page * page;
        if (end > first) _ = Madvise((void*)first, (nuint)(end - first), MadvDontNeed);
    }

    private const int MadvDontNeed = 4;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(void* address, nuint length, int advice);

    private byte* Data(SafeTensorInfo info)
    {
        if (_base == null) throw new ObjectDisposedException(nameof(SafeTensorsFile), $"'{Path}' is closed.");
        // The header check guarantees End <= DataLength, so [Begin, End) lies inside the mapping.
        return _base + _dataStart + info.Begin;
    }

    private void CheckFloat(SafeTensorInfo info, string target)
    {
        if (info.DType is not (SafeTensorsDType.F32 or SafeTensorsDType.BF16 or SafeTensorsDType.F16 or SafeTensorsDType.F64))
            throw new InvalidDataException($"'{Path}', tensor '{info.Name}': dtype {info.DType} cannot be read as {target} (F32, BF16, F16 or F64 expected).");
    }

    private void CheckWhole(SafeTensorInfo info, long length)
    {
        if (length != info.ElementCount)
            throw new ArgumentException($"'{Path}', tensor '{info.Name}' has {info.ElementCount} elements {info.ShapeText}, the destination {length}.");
    }

    private void CheckRange(SafeTensorInfo info, long firstElement, long count)
    {
        if (firstElement < 0 || firstElement > info.ElementCount || count > info.ElementCount - firstElement)
            throw new ArgumentOutOfRangeException(nameof(firstElement),
                $"'{Path}', tensor '{info.Name}': elements [{firstElement}, {firstElement + count}) are outside its {info.ElementCount} elements.");
    }

    public void Dispose()
    {
        if (_base != null)
        {
            _base = null;
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
        _view.Dispose();
        _map.Dispose();
    }

    public override string ToString() => $"{Path} ({_tensors.Count} tensors, {FileLength} bytes)";
}
