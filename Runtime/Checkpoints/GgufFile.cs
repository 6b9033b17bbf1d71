using System.IO.MemoryMappedFiles;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// A GGUF file (llama.cpp's model format) opened read-only and memory-mapped. The header (metadata and tensor
/// infos) is parsed and validated once (<see cref="GgufHeader"/>); tensor data stays in the mapped pages in its
/// stored type (quantised blocks included), so a file close to the machine's memory costs no copy.
/// Reads are safe from many threads.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _base;
    private readonly Dictionary<string, GgufTensorInfo> _tensors;

    private GgufFile(string path)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("GGUF reading assumes a little-endian machine.");
        Path = System.IO.Path.GetFullPath(path);
        RegularFile.Require(Path, "GGUF file");
        var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        try
        {
            FileLength = stream.Length;
            if (FileLength < 24)
            {
                // Too short to map usefully: parse what is there for the exact message.
                byte* small = stackalloc byte[24];
                int n = stream.ReadAtLeast(new Span<byte>(small, 24), (int)FileLength, throwOnEndOfStream: false);
                GgufHeader.Parse(small, n, Path);
                throw new InvalidDataException($"'{Path}': the file is truncated.");   // unreachable: Parse rejects < 24 bytes
            }
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
            var header = GgufHeader.Parse(_base, FileLength, Path);
            Version = header.Version;
            Alignment = header.Alignment;
            DataStart = header.DataStart;
            Metadata = header.Metadata;
            TensorList = header.Tensors;
            _tensors = header.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Opens and validates <paramref name="path"/>; a damaged file throws <see cref="InvalidDataException"/> naming it and the field.</summary>
    public static GgufFile Open(string path) => new(path);

    /// <summary>True when <paramref name="path"/> ends in <c>.gguf</c> (any case).</summary>
    public static bool IsGgufPath(string path) => path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase);

    public string Path { get; }
    public long FileLength { get; }
    public uint Version { get; }
    public int Alignment { get; }

    /// <summary>File offset of the data section (tensor offsets are relative to it).</summary>
    public long DataStart { get; }

    public GgufMetadata Metadata { get; } = null!;

    /// <summary>Tensor infos in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> TensorList { get; } = [];

    public IReadOnlyDictionary<string, GgufTensorInfo> Tensors => _tensors;

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public GgufTensorInfo this[string name] => _tensors.TryGetValue(name, out var info)
        ? info
        : throw new KeyNotFoundException($"'{Path}' has no tensor '{name}'.");

    /// <summary>
    /// The first byte of the tensor's data in the mapping, valid until Dispose. The header check guarantees
    /// that [pointer, pointer + ByteLength) lies inside the file.
    /// </summary>
    public byte* Data(GgufTensorInfo info)
    {
        if (_base == null) throw new ObjectDisposedException(nameof(GgufFile), $"'{Path}' is closed.");
        if (!_tensors.TryGetValue(info.Name, out var own) || !ReferenceEquals(own, info))
            throw new ArgumentException($"Tensor '{info.Name}' is not from '{Path}'.", nameof(info));
        return _base + DataStart + info.Offset;
    }

    /// <summary>The tensor's stored bytes (tensors below 2 GiB).</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var info = this[name];
        if (info.ByteLength > int.MaxValue)
            throw new NotSupportedException($"'{Path}', tensor '{name}': {info.ByteLength} bytes do not fit one span.");
        return new ReadOnlySpan<byte>(Data(info), (int)info.ByteLength);
    }

    public void Dispose()
    {
        if (_base != null)
        {
            _base = null;
            _view!.SafeMemoryMappedViewHandle.ReleasePointer();
        }
        _view?.Dispose();
        _map?.Dispose();
    }

    public override string ToString() => $"{Path} (GGUF v{Version}, {_tensors.Count} tensors, {FileLength} bytes)";
}
