using System.Runtime.InteropServices;
using System.Text.Json;
using Qwen3Gen.Kernels;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// Builds a safetensors file: <c>u64 LE N | JSON header padded with spaces to a multiple of 8 | data</c>,
/// tensors in ordinal name order with no gaps, <c>__metadata__</c> first. Tensors are added as arrays
/// (kept by reference, not copied) or as callbacks that stream their bytes, so saving a multi-GB model
/// needs no second copy of it. <see cref="Save"/> is atomic (<see cref="AtomicFile"/>).
/// </summary>
public sealed class SafeTensorsWriter
{
    private sealed record Entry(string Name, SafeTensorsDType DType, long[] Shape, long ByteLength, Action<Stream> WriteData);

    private readonly SortedDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);

    public SafeTensorsWriter(IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (metadata is not null)
            foreach (var (key, value) in metadata) _metadata[key] = value;
    }

    /// <summary>Sets one <c>__metadata__</c> entry.</summary>
    public void SetMetadata(string key, string value) => _metadata[key] = value;

    public int Count => _entries.Count;

    public void AddF32(string name, long[] shape, ReadOnlyMemory<float> data) => AddArray(name, SafeTensorsDType.F32, shape, data);

    public void AddBF16(string name, long[] shape, ReadOnlyMemory<BF16> data) => AddArray(name, SafeTensorsDType.BF16, shape, data);

    public void AddF16(string name, long[] shape, ReadOnlyMemory<Half> data) => AddArray(name, SafeTensorsDType.F16, shape, data);

    public void AddI64(string name, long[] shape, ReadOnlyMemory<long> data) => AddArray(name, SafeTensorsDType.I64, shape, data);

    /// <summary>
    /// Adds a tensor whose little-endian bytes <paramref name="writeData"/> streams when the file is written.
    /// It must write exactly elements × dtype size bytes; anything else aborts the save.
    /// </summary>
    public void Add(string name, SafeTensorsDType dtype, long[] shape, Action<Stream> writeData)
    {
        ArgumentNullException.ThrowIfNull(writeData);
        if (string.IsNullOrEmpty(name)) throw new ArgumentException("A tensor name must not be empty.", nameof(name));
        if (name == SafeTensorsHeader.MetadataKey) throw new ArgumentException($"'{name}' is reserved for metadata.", nameof(name));
        if (_entries.ContainsKey(name)) throw new ArgumentException($"Tensor '{name}' was already added.", nameof(name));
        _ = dtype.Size();
        long elements = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"Tensor '{name}': negative dimension in shape {SafeTensorInfo.FormatShape(shape)}.", nameof(shape));
            elements = checked(elements * d);
        }
        _entries.Add(name, new Entry(name, dtype, (long[])shape.Clone(), checked(elements * dtype.Size()), writeData));
    }

    private void AddArray<T>(string name, SafeTensorsDType dtype, long[] shape, ReadOnlyMemory<T> data) where T : unmanaged
    {
        long elements = 1;
        foreach (var d in shape) elements = d < 0 ? -1 : checked(elements * d);
        if (elements >= 0 && elements != data.Length)
            throw new ArgumentException($"Tensor '{name}': shape {SafeTensorInfo.FormatShape(shape)} has {elements} elements, the data {data.Length}.", nameof(data));
        Add(name, dtype, shape, stream => stream.Write(MemoryMarshal.AsBytes(data.Span)));
    }

    /// <summary>Writes the file atomically: the previous file at <paramref name="path"/> survives any failure.</summary>
    public void Save(string path) => AtomicFile.Write(path, WriteTo);

    /// <summary>Writes the whole file to <paramref name="stream"/>.</summary>
    public void WriteTo(Stream stream)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors writing assumes a little-endian machine.");
        byte[] header = BuildHeader();
        Span<byte> length = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        var counter = new CountingStream(stream);
        foreach (var entry in _entries.Values)
        {
            long before = counter.Written;
            entry.WriteData(counter);
            long written = counter.Written - before;
            if (written != entry.ByteLength)
                throw new InvalidOperationException(
                    $"Tensor '{entry.Name}': {written} bytes were written for shape {SafeTensorInfo.FormatShape(entry.Shape)} of {entry.DType} ({entry.ByteLength} bytes).");
        }
        stream.Flush();
    }

    /// <summary>The JSON header, padded with spaces to a multiple of 8 so the data section starts aligned.</summary>
    private byte[] BuildHeader()
    {
        var buffer = new MemoryStream();
        // Relaxed escaping keeps names like "a+b" readable; the output is still plain JSON.
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (_metadata.Count > 0)
            {
                json.WriteStartObject(SafeTensorsHeader.MetadataKey);
                foreach (var (key, value) in _metadata.OrderBy(p => p.Key, StringComparer.Ordinal)) json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var entry in _entries.Values)
            {
                json.WriteStartObject(entry.Name);
                json.WriteString("dtype", entry.DType.ToString());
                json.WriteStartArray("shape");
                foreach (var d in entry.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + entry.ByteLength);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += entry.ByteLength;
            }
            json.WriteEndObject();
        }
        int padding = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < padding; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    /// <summary>Forwards writes and counts bytes, so a tensor callback that writes too much or too little is caught.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Written { get; private set; }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            Written += count;
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            Written += buffer.Length;
        }
    }
}
