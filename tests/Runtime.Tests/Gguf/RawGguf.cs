using System.Text;
using Qwen3Gen.Checkpoints;

namespace Qwen3Gen.Runtime.Tests.Gguf;

/// <summary>
/// Writes GGUF bytes field by field, so a test can build exactly the damaged header it means (the runtime's
/// writer only writes valid files). Layout: magic, version, counts, metadata, tensor infos, padding, data.
/// </summary>
internal sealed class RawGguf
{
    private readonly MemoryStream _stream = new();
    private readonly BinaryWriter _w;

    public RawGguf() => _w = new BinaryWriter(_stream, Encoding.UTF8, leaveOpen: true);

    public RawGguf Header(ulong tensors, ulong metadata, uint version = 3, uint magic = 0x46554747)
    {
        _w.Write(magic); _w.Write(version); _w.Write(tensors); _w.Write(metadata);
        return this;
    }

    public RawGguf String(string s) { var b = Encoding.UTF8.GetBytes(s); _w.Write((ulong)b.Length); _w.Write(b); return this; }
    public RawGguf Bytes(params byte[] b) { _w.Write(b); return this; }
    public RawGguf U32(uint v) { _w.Write(v); return this; }
    public RawGguf U64(ulong v) { _w.Write(v); return this; }

    public RawGguf KeyU32(string key, uint value) => String(key).U32((uint)GgufValueType.UInt32).U32(value);
    public RawGguf KeyString(string key, string value) => String(key).U32((uint)GgufValueType.String).String(value);

    public RawGguf Tensor(string name, uint type, ulong offset, params ulong[] ne)
    {
        String(name).U32((uint)ne.Length);
        foreach (var d in ne) U64(d);
        return U32(type).U64(offset);
    }

    /// <summary>Zero padding to the next multiple of <paramref name="alignment"/>, then <paramref name="dataBytes"/> bytes of data.</summary>
    public byte[] Data(int dataBytes, int alignment = 32)
    {
        while (_stream.Length % alignment != 0) _w.Write((byte)0);
        _w.Write(new byte[dataBytes]);
        return ToArray();
    }

    public byte[] ToArray()
    {
        _w.Flush();
        return _stream.ToArray();
    }

    /// <summary>A valid one-tensor file: F32 "w" of ne [4, 2] at offset 0, one string key.</summary>
    public static byte[] Valid() =>
        new RawGguf().Header(1, 1).KeyString("general.architecture", "qwen3").Tensor("w", 0, 0, 4, 2).Data(32);
}
