using System.Runtime.InteropServices;
using System.Text;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// NumPy's .npy format, version 1.0, for one C-order float32 matrix: the magic "\x93NUMPY", the version bytes 1 0, a
/// little-endian uint16 header length, an ASCII dict header padded with spaces and ended by '\n' so that the data starts
/// at a multiple of 64 bytes, then the raw little-endian floats (numpy.lib.format).
/// </summary>
internal static class NpyFile
{
    public static void WriteFloat32(Stream stream, ReadOnlySpan<float> values, int rows, int columns)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("The .npy writer assumes a little-endian machine.");
        if ((long)rows * columns != values.Length) throw new ArgumentException($"{values.Length} values are not {rows} × {columns}.");
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {columns}), }}";
        int unpadded = 6 + 2 + 2 + dict.Length + 1;                       // magic, version, length, dict, '\n'
        int total = (unpadded + 63) / 64 * 64;
        var header = new byte[total];
        header[0] = 0x93;
        "NUMPY"u8.CopyTo(header.AsSpan(1));
        header[6] = 1;
        header[7] = 0;
        BitConverter.TryWriteBytes(header.AsSpan(8, 2), (ushort)(total - 10));
        Encoding.ASCII.GetBytes(dict).CopyTo(header, 10);
        header.AsSpan(10 + dict.Length, total - 11 - dict.Length).Fill((byte)' ');
        header[total - 1] = (byte)'\n';
        stream.Write(header);
        stream.Write(MemoryMarshal.AsBytes(values));
    }
}
