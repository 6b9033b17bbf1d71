using System.Text;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// Writes a GGUF v3 file: metadata in insertion order (the value type follows the .NET type: byte u8, sbyte i8,
/// ushort u16, short i16, uint u32, int i32, float f32, bool, string, ulong u64, long i64, double f64, and arrays
/// of those), then the tensor infos, then each tensor's bytes at an aligned offset, packed in insertion order with
/// zero padding, the file ending at the padded end of the last tensor (the packing llama.cpp's loader expects).
/// The file is written to a temporary name and renamed into place when complete.
/// </summary>
public sealed class GgufWriter
{
    private readonly List<(string Key, object Value)> _metadata = new();
    private readonly List<(string Name, GgmlType Type, long[] Ne, long Bytes, Action<Stream> Write)> _tensors = new();

    public GgufWriter(int alignment = GgufHeader.DefaultAlignment)
    {
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(alignment), "a power of two");
        Alignment = alignment;
        if (alignment != GgufHeader.DefaultAlignment) Add(GgufHeader.AlignmentKey, (uint)alignment);
    }

    public int Alignment { get; }

    public GgufWriter Add(string key, object value)
    {
        if (_metadata.Any(m => m.Key == key)) throw new ArgumentException($"Metadata key '{key}' added twice.", nameof(key));
        _ = TypeOf(value);
        _metadata.Add((key, value));
        return this;
    }

    /// <summary>Adds a tensor of <paramref name="ne"/> (innermost first) whose <paramref name="bytes"/> bytes <paramref name="write"/> writes when the file is saved.</summary>
    public GgufWriter AddTensor(string name, GgmlType type, long[] ne, long bytes, Action<Stream> write)
    {
        long elements = ne.Aggregate(1L, (a, b) => a * b);
        long expected = elements / GgmlTypes.BlockSize(type) * GgmlTypes.BlockBytes(type);
        if (ne[0] % GgmlTypes.BlockSize(type) != 0 || bytes != expected)
            throw new ArgumentException($"Tensor '{name}': {type} ne [{string.Join(", ", ne)}] needs {expected} bytes in whole blocks, given {bytes}.");
        _tensors.Add((name, type, ne, bytes, write));
        return this;
    }

    public GgufWriter AddTensor(string name, GgmlType type, long[] ne, byte[] data) =>
        AddTensor(name, type, ne, data.Length, s => s.Write(data));

    public void Save(string path)
    {
        string full = Path.GetFullPath(path);
        string temp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
                w.Write(GgufHeader.Magic);
                w.Write(3u);
                w.Write((ulong)_tensors.Count);
                w.Write((ulong)_metadata.Count);
                foreach (var (key, value) in _metadata)
                {
                    WriteString(w, key);
                    w.Write((uint)TypeOf(value));
                    WriteValue(w, value);
                }
                long offset = 0;
                foreach (var t in _tensors)
                {
                    WriteString(w, t.Name);
                    w.Write((uint)t.Ne.Length);
                    foreach (var d in t.Ne) w.Write((ulong)d);
                    w.Write((uint)t.Type);
                    w.Write((ulong)offset);
                    offset = Align(offset + t.Bytes);
                }
                w.Flush();
                Pad(stream);
                long dataStart = stream.Position;
                foreach (var t in _tensors)
                {
                    long before = stream.Position;
                    t.Write(stream);
                    if (stream.Position - before != t.Bytes)
                        throw new InvalidOperationException($"Tensor '{t.Name}': {stream.Position - before} bytes written, {t.Bytes} declared.");
                    Pad(stream, dataStart);
                }
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw;
        }
    }

    private long Align(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private void Pad(Stream stream, long origin = 0)
    {
        long rel = stream.Position - origin;
        long pad = Align(rel) - rel;
        for (long i = 0; i < pad; i++) stream.WriteByte(0);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static GgufValueType TypeOf(object value) => value switch
    {
        byte => GgufValueType.UInt8,
        sbyte => GgufValueType.Int8,
        ushort => GgufValueType.UInt16,
        short => GgufValueType.Int16,
        uint => GgufValueType.UInt32,
        int => GgufValueType.Int32,
        float => GgufValueType.Float32,
        bool => GgufValueType.Bool,
        string => GgufValueType.String,
        ulong => GgufValueType.UInt64,
        long => GgufValueType.Int64,
        double => GgufValueType.Float64,
        Array a when a.GetType().GetElementType() is { } e && e != typeof(object) && e != typeof(Array) => GgufValueType.Array,
        _ => throw new ArgumentException($"A {value.GetType().Name} is not a GGUF metadata value."),
    };

    private static void WriteValue(BinaryWriter w, object value)
    {
        switch (value)
        {
            case byte v: w.Write(v); break;
            case sbyte v: w.Write(v); break;
            case ushort v: w.Write(v); break;
            case short v: w.Write(v); break;
            case uint v: w.Write(v); break;
            case int v: w.Write(v); break;
            case float v: w.Write(v); break;
            case bool v: w.Write((byte)(v ? 1 : 0)); break;
            case string v: WriteString(w, v); break;
            case ulong v: w.Write(v); break;
            case long v: w.Write(v); break;
            case double v: w.Write(v); break;
            case Array a:
                var element = a.GetType().GetElementType()!;
                var elementType = element == typeof(string) ? GgufValueType.String : TypeOf(Activator.CreateInstance(element)!);
                w.Write((uint)elementType);
                w.Write((ulong)a.Length);
                foreach (var item in a) WriteValue(w, item!);
                break;
        }
    }
}
