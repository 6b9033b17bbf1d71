using System.Buffers.Binary;
using System.Text;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// Parses and validates the header of a GGUF file (versions 2 and 3, little-endian):
/// <c>"GGUF" | u32 version | u64 tensor count | u64 metadata count | metadata | tensor infos | padding | data</c>.
/// A string is a u64 byte length and UTF-8 bytes; a metadata entry is a key, a u32 value type and the value
/// (arrays: u32 element type, u64 count, elements); a tensor info is a name, u32 n_dims (1..4), n_dims u64 <c>ne</c>,
/// u32 GGML type and a u64 offset relative to the data section, which starts at the header's end rounded up to
/// <c>general.alignment</c> (default 32).
/// Everything a reader later trusts is checked here, so reads never leave the file and nothing is allocated
/// from an unchecked count: every read is bounds-checked against the file length, counts and string lengths are
/// bounded (by the limits below and by the bytes left), types are known, shapes do not overflow, row lengths are
/// whole blocks, offsets are aligned and inside the data section, tensors do not overlap, keys and names are unique.
/// Each violation is an <see cref="InvalidDataException"/> naming the file, the field and the numbers.
/// </summary>
internal sealed unsafe class GgufHeader
{
    public const uint Magic = 0x46554747;                 // "GGUF" read as a little-endian u32
    public const int DefaultAlignment = 32;
    public const string AlignmentKey = "general.alignment";
    /// <summary>Limits far above any real file (Qwen3-235B has ~1,100 tensors; the vocabulary 151,936 tokens).</summary>
    public const long MaxTensors = 1 << 20, MaxMetadata = 1 << 20, MaxArrayLength = 1 << 26, MaxStringBytes = 1 << 26;
    public const int MaxNameBytes = 1 << 16, MaxArrayDepth = 4, MaxDims = 4;

    private readonly byte* _base;
    private readonly long _length;
    private readonly string _file;
    private long _pos;

    private GgufHeader(byte* data, long length, string file)
    {
        _base = data;
        _length = length;
        _file = file;
    }

    public uint Version { get; private set; }
    public int Alignment { get; private set; }
    public long DataStart { get; private set; }
    public GgufMetadata Metadata { get; private set; } = null!;
    /// <summary>Tensor infos in file order.</summary>
    public List<GgufTensorInfo> Tensors { get; } = new();

    /// <summary>Parses the header of the <paramref name="length"/> bytes at <paramref name="data"/>.</summary>
    public static GgufHeader Parse(byte* data, long length, string file)
    {
        var header = new GgufHeader(data, length, file);
        header.Parse();
        return header;
    }

    private void Parse()
    {
        if (_length < 24)
            throw Bad(_length == 0 ? "the file is empty" : $"the file is truncated: {_length} bytes, shorter than the 24-byte GGUF header");
        uint magic = ReadU32("magic");
        if (magic != Magic)
            throw Bad($"magic is 0x{magic:X8}, not \"GGUF\" (0x{Magic:X8}): not a GGUF file");
        Version = ReadU32("version");
        if (Version is not (2 or 3))
            throw Bad($"version {Version} is not supported (GGUF 2 and 3 are; version 1 used 32-bit counts)");
        ulong tensorCount = ReadU64("tensor count");
        ulong metadataCount = ReadU64("metadata count");
        // Every metadata entry takes at least 13 bytes (key length, type, 1-byte value), every tensor info 32.
        if (metadataCount > MaxMetadata || metadataCount > (ulong)(Left / 13))
            throw Bad($"metadata count {metadataCount} exceeds what the file can hold (limit {MaxMetadata}, {Left} bytes left)");
        if (tensorCount > MaxTensors || tensorCount > (ulong)(Left / 32))
            throw Bad($"tensor count {tensorCount} exceeds what the file can hold (limit {MaxTensors}, {Left} bytes left)");

        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        for (ulong i = 0; i < metadataCount; i++)
        {
            string key = ReadString($"metadata entry {i} key", MaxNameBytes);
            if (key.Length == 0) throw Bad($"metadata entry {i} has an empty key");
            uint type = ReadU32($"metadata '{key}' value type");
            object value = ReadValue(type, key, 0);
            if (!values.TryAdd(key, value)) throw Bad($"metadata key '{key}' appears twice");
        }
        Metadata = new GgufMetadata(values, _file);
        Alignment = ReadAlignment(values);

        var raw = new List<(string Name, uint Type, long[] Ne, ulong Offset)>((int)tensorCount);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < tensorCount; i++)
        {
            string name = ReadString($"tensor info {i} name", MaxNameBytes);
            if (name.Length == 0) throw Bad($"tensor info {i} has an empty name");
            if (!names.Add(name)) throw Bad($"tensor '{name}' appears twice");
            uint dims = ReadU32($"tensor '{name}' n_dims");
            if (dims is 0 or > MaxDims) throw Bad($"tensor '{name}': n_dims {dims} is outside 1..{MaxDims}");
            var ne = new long[dims];
            for (int d = 0; d < dims; d++)
            {
                ulong n = ReadU64($"tensor '{name}' ne[{d}]");
                if (n == 0 || n > long.MaxValue) throw Bad($"tensor '{name}': ne[{d}] = {n} must be a positive dimension");
                ne[d] = (long)n;
            }
            uint type = ReadU32($"tensor '{name}' type");
            ulong offset = ReadU64($"tensor '{name}' offset");
            raw.Add((name, type, ne, offset));
        }

        long headerEnd = _pos;
        long dataStart = (headerEnd + Alignment - 1) / Alignment * Alignment;
        if (dataStart > _length)
            throw Bad($"the data section would start at byte {dataStart}, past the end of the file ({_length} bytes): the file is truncated");
        DataStart = dataStart;
        long dataLength = _length - dataStart;

        foreach (var (name, typeId, ne, offset) in raw)
            Tensors.Add(CheckTensor(name, typeId, ne, offset, dataLength));
        CheckNoOverlap();
    }

    private int ReadAlignment(Dictionary<string, object> values)
    {
        if (!values.TryGetValue(AlignmentKey, out var value)) return DefaultAlignment;
        if (value is not uint alignment)
            throw Bad($"metadata '{AlignmentKey}' must be a u32, found {value.GetType().Name}");
        if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > 1 << 20)
            throw Bad($"metadata '{AlignmentKey}' = {alignment} must be a power of two up to {1 << 20}");
        return (int)alignment;
    }

    private GgufTensorInfo CheckTensor(string name, uint typeId, long[] ne, ulong offset, long dataLength)
    {
        string where = $"tensor '{name}'";
        if (!Enum.IsDefined(typeof(GgmlType), typeId) || !GgmlTypes.TryGetLayout((GgmlType)typeId, out int blockSize, out int blockBytes))
            throw Bad($"{where} has GGML type {GgmlTypes.Describe(typeId)}, which Qwen3Gen does not read (supported: {GgmlTypes.SupportedText})");
        var type = (GgmlType)typeId;
        if (ne[0] % blockSize != 0)
            throw Bad($"{where}: row length ne[0] = {ne[0]} is not a multiple of the {type} block size {blockSize}");
        long bytes;
        try
        {
            long elements = 1;
            foreach (var d in ne) elements = checked(elements * d);
            bytes = checked(elements / blockSize * blockBytes);
        }
        catch (OverflowException)
        {
            throw Bad($"{where}: ne [{string.Join(", ", ne)}] has more elements than a file can hold");
        }
        if (offset % (ulong)Alignment != 0)
            throw Bad($"{where}: offset {offset} is not a multiple of the alignment {Alignment}");
        if (offset > (ulong)dataLength || bytes > dataLength - (long)offset)
            throw Bad($"{where}: bytes [{offset}, {offset + (ulong)bytes}) of {type} ne [{string.Join(", ", ne)}] extend past the end of the " +
                      $"data section ({dataLength} bytes): the file is truncated or the offset is wrong");
        return new GgufTensorInfo(name, type, ne, (long)offset, bytes);
    }

    private void CheckNoOverlap()
    {
        var sorted = Tensors.OrderBy(t => t.Offset).ToArray();
        for (int i = 1; i < sorted.Length; i++)
        {
            var a = sorted[i - 1];
            var b = sorted[i];
            if (b.Offset < a.Offset + a.ByteLength)
                throw Bad($"tensors '{a.Name}' [{a.Offset}, {a.Offset + a.ByteLength}) and '{b.Name}' [{b.Offset}, {b.Offset + b.ByteLength}) overlap in the data section");
        }
    }

    private object ReadValue(uint type, string key, int depth)
    {
        string field = $"metadata '{key}'";
        switch ((GgufValueType)type)
        {
            case GgufValueType.UInt8: return Take(1, field)[0];
            case GgufValueType.Int8: return (sbyte)Take(1, field)[0];
            case GgufValueType.UInt16: return BinaryPrimitives.ReadUInt16LittleEndian(Take(2, field));
            case GgufValueType.Int16: return BinaryPrimitives.ReadInt16LittleEndian(Take(2, field));
            case GgufValueType.UInt32: return ReadU32(field);
            case GgufValueType.Int32: return BinaryPrimitives.ReadInt32LittleEndian(Take(4, field));
            case GgufValueType.Float32: return BinaryPrimitives.ReadSingleLittleEndian(Take(4, field));
            case GgufValueType.Bool: return ReadBool(field);
            case GgufValueType.String: return ReadString(field, MaxStringBytes);
            case GgufValueType.UInt64: return ReadU64(field);
            case GgufValueType.Int64: return BinaryPrimitives.ReadInt64LittleEndian(Take(8, field));
            case GgufValueType.Float64: return BinaryPrimitives.ReadDoubleLittleEndian(Take(8, field));
            case GgufValueType.Array: return ReadArray(key, depth);
            default: throw Bad($"{field} has value type {type}, not a GGUF value type (0..12)");
        }
    }

    private object ReadArray(string key, int depth)
    {
        string field = $"metadata '{key}'";
        if (depth >= MaxArrayDepth) throw Bad($"{field}: arrays nested deeper than {MaxArrayDepth}");
        uint elementType = ReadU32($"{field} array element type");
        ulong count = ReadU64($"{field} array length");
        int size = (GgufValueType)elementType switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,   // a string: at least its length
            GgufValueType.Array => 12,                                                                           // type + count
            _ => throw Bad($"{field} is an array of value type {elementType}, not a GGUF value type (0..12)"),
        };
        if (count > MaxArrayLength || count > (ulong)(Left / size))
            throw Bad($"{field}: array length {count} exceeds what the file can hold (limit {MaxArrayLength}, {Left} bytes left)");
        int n = (int)count;
        switch ((GgufValueType)elementType)
        {
            case GgufValueType.UInt8: return Take(n, field).ToArray();
            case GgufValueType.Int8: return Cast<sbyte>(n, field);
            case GgufValueType.UInt16: return Cast<ushort>(n, field);
            case GgufValueType.Int16: return Cast<short>(n, field);
            case GgufValueType.UInt32: return Cast<uint>(n, field);
            case GgufValueType.Int32: return Cast<int>(n, field);
            case GgufValueType.Float32: return Cast<float>(n, field);
            case GgufValueType.UInt64: return Cast<ulong>(n, field);
            case GgufValueType.Int64: return Cast<long>(n, field);
            case GgufValueType.Float64: return Cast<double>(n, field);
            case GgufValueType.Bool:
            {
                var result = new bool[n];
                for (int i = 0; i < n; i++) result[i] = ReadBool($"{field}[{i}]");
                return result;
            }
            case GgufValueType.String:
            {
                var result = new string[n];
                for (int i = 0; i < n; i++) result[i] = ReadString($"{field}[{i}]", MaxStringBytes);
                return result;
            }
            default:
            {
                var result = new object[n];
                for (int i = 0; i < n; i++) result[i] = ReadArray($"{key}[{i}]", depth + 1);
                return result;
            }
        }
    }

    private T[] Cast<T>(int n, string field) where T : unmanaged
    {
        var bytes = Take((long)n * sizeof(T), field);
        var result = new T[n];
        bytes.CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(result.AsSpan()));   // little-endian machine (checked by GgufFile)
        return result;
    }

    private bool ReadBool(string field)
    {
        byte b = Take(1, field)[0];
        return b switch
        {
            0 => false,
            1 => true,
            _ => throw Bad($"{field} is a bool stored as {b}, not 0 or 1"),
        };
    }

    private string ReadString(string field, long maxBytes)
    {
        ulong length = ReadU64($"{field} length");
        if (length > (ulong)maxBytes || length > (ulong)Left)
            throw Bad($"{field}: string length {length} exceeds {(length > (ulong)maxBytes ? $"the limit of {maxBytes} bytes" : $"the {Left} bytes left in the file")}");
        var bytes = Take((long)length, field);
        try
        {
            return Utf8Strict.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Bad($"{field} is not valid UTF-8");
        }
    }

    private static readonly UTF8Encoding Utf8Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private uint ReadU32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, field));

    private ulong ReadU64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, field));

    private long Left => _length - _pos;

    /// <summary>The next <paramref name="count"/> bytes, or an error naming the field that runs past the end.</summary>
    private ReadOnlySpan<byte> Take(long count, string field)
    {
        if (count < 0 || count > Left)
            throw Bad($"{field} at byte {_pos} runs past the end of the file ({_length} bytes): the file is truncated");
        if (count > int.MaxValue) throw Bad($"{field}: {count} bytes exceed a single read");
        var span = new ReadOnlySpan<byte>(_base + _pos, (int)count);
        _pos += count;
        return span;
    }

    private InvalidDataException Bad(string message) => new($"'{_file}': {message}.");
}
