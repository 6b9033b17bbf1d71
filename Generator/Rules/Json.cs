// Shared source: compiled into the generator and, as a linked file, into the runtime (ConfigFields reads with it).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Qwen3Gen.Rules;

/// <summary>The kinds of JSON value (RFC 8259).</summary>
internal enum JsonKind { Null, False, True, Number, String, Array, Object }

/// <summary>
/// One parsed JSON value. A generator cannot ship System.Text.Json (netstandard2.0, analyzer
/// load context), and config.json is tiny, so a small tree is all we need.
/// </summary>
internal sealed class JsonValue
{
    public JsonKind Kind { get; }
    public double Number { get; }                                  // Kind == Number
    public string Text { get; }                                    // the string, or the number as written
    public IReadOnlyList<JsonValue> Items { get; }                 // Kind == Array
    public IReadOnlyList<KeyValuePair<string, JsonValue>> Members { get; } // Kind == Object, in file order

    private static readonly JsonValue[] NoItems = Array.Empty<JsonValue>();
    private static readonly KeyValuePair<string, JsonValue>[] NoMembers = Array.Empty<KeyValuePair<string, JsonValue>>();

    private JsonValue(JsonKind kind, double number, string text,
                      IReadOnlyList<JsonValue>? items, IReadOnlyList<KeyValuePair<string, JsonValue>>? members)
    {
        Kind = kind; Number = number; Text = text; Items = items ?? NoItems; Members = members ?? NoMembers;
    }

    public static readonly JsonValue Null = new(JsonKind.Null, 0, "null", null, null);
    public static readonly JsonValue False = new(JsonKind.False, 0, "false", null, null);
    public static readonly JsonValue True = new(JsonKind.True, 0, "true", null, null);
    public static JsonValue FromNumber(double value, string raw) => new(JsonKind.Number, value, raw, null, null);
    public static JsonValue FromString(string value) => new(JsonKind.String, 0, value, null, null);
    public static JsonValue FromArray(List<JsonValue> items) => new(JsonKind.Array, 0, "", items, null);
    public static JsonValue FromObject(List<KeyValuePair<string, JsonValue>> members) => new(JsonKind.Object, 0, "", null, members);

    /// <summary>The member named <paramref name="key"/>; the last one wins on duplicates, as in Python's json.</summary>
    public JsonValue? this[string key]
    {
        get
        {
            for (int i = Members.Count - 1; i >= 0; i--)
                if (Members[i].Key == key) return Members[i].Value;
            return null;
        }
    }

    /// <summary>How the value reads in a message: numbers as written, strings quoted, containers by kind.</summary>
    public string Describe() => Kind switch
    {
        JsonKind.String => "\"" + Text + "\"",
        JsonKind.Array => "an array",
        JsonKind.Object => "an object",
        _ => Text,
    };
}

/// <summary>A JSON syntax error with its position (1-based line and column, 0-based offset).</summary>
internal sealed class JsonParseException : Exception
{
    public int Offset { get; }
    public int Line { get; }
    public int Column { get; }

    public JsonParseException(string message, int offset, int line, int column) : base(message)
    {
        Offset = offset; Line = line; Column = column;
    }
}

/// <summary>
/// A strict recursive-descent JSON reader: one method per grammar rule of RFC 8259.
/// No comments, no trailing commas, no NaN/Infinity; nesting is bounded so a hostile file
/// cannot overflow the compiler's stack.
/// </summary>
internal sealed class Json
{
    private const int MaxDepth = 64;
    private readonly string _s;
    private int _i;
    private int _depth;

    private Json(string text) => _s = text;

    /// <summary>Parses a whole document; throws <see cref="JsonParseException"/> on any syntax error.</summary>
    public static JsonValue Parse(string text)
    {
        var reader = new Json(text);
        if (reader.Peek() == '\uFEFF') reader._i++;                   // a UTF-8 BOM that survived decoding
        reader.SkipWhitespace();
        var value = reader.ReadValue();
        reader.SkipWhitespace();
        if (reader._i < text.Length) throw reader.Error("unexpected " + reader.DescribeHere() + " after the end of the document");
        return value;
    }

    private JsonValue ReadValue()
    {
        switch (Peek())
        {
            case '{': return ReadObject();
            case '[': return ReadArray();
            case '"': return JsonValue.FromString(ReadString());
            case 't': ReadLiteral("true"); return JsonValue.True;
            case 'f': ReadLiteral("false"); return JsonValue.False;
            case 'n': ReadLiteral("null"); return JsonValue.Null;
            default:
                char c = Peek();
                if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber();
                throw Error("expected a value but found " + DescribeHere());
        }
    }

    private JsonValue ReadObject()
    {
        Enter();
        _i++;                                                           // '{'
        var members = new List<KeyValuePair<string, JsonValue>>();
        SkipWhitespace();
        if (Peek() == '}') { _i++; _depth--; return JsonValue.FromObject(members); }
        while (true)
        {
            SkipWhitespace();
            if (Peek() != '"') throw Error("expected a property name in double quotes but found " + DescribeHere());
            string key = ReadString();
            SkipWhitespace();
            Expect(':');
            SkipWhitespace();
            members.Add(new KeyValuePair<string, JsonValue>(key, ReadValue()));
            SkipWhitespace();
            if (Peek() == ',') { _i++; continue; }
            if (Peek() == '}') { _i++; break; }
            throw Error("expected ',' or '}' but found " + DescribeHere());
        }
        _depth--;
        return JsonValue.FromObject(members);
    }

    private JsonValue ReadArray()
    {
        Enter();
        _i++;                                                           // '['
        var items = new List<JsonValue>();
        SkipWhitespace();
        if (Peek() == ']') { _i++; _depth--; return JsonValue.FromArray(items); }
        while (true)
        {
            SkipWhitespace();
            items.Add(ReadValue());
            SkipWhitespace();
            if (Peek() == ',') { _i++; continue; }
            if (Peek() == ']') { _i++; break; }
            throw Error("expected ',' or ']' but found " + DescribeHere());
        }
        _depth--;
        return JsonValue.FromArray(items);
    }

    private string ReadString()
    {
        int start = _i;
        _i++;                                                           // opening '"'
        var sb = new StringBuilder();
        while (true)
        {
            if (_i >= _s.Length) throw ErrorAt(start, "unterminated string");
            char c = _s[_i++];
            if (c == '"') return sb.ToString();
            if (c < 0x20) throw ErrorAt(_i - 1, "control character U+" + ((int)c).ToString("X4", CultureInfo.InvariantCulture) + " inside a string");
            if (c != '\\') { sb.Append(c); continue; }
            if (_i >= _s.Length) throw ErrorAt(start, "unterminated string");
            char e = _s[_i++];
            switch (e)
            {
                case '"': sb.Append('"'); break;
                case '\\': sb.Append('\\'); break;
                case '/': sb.Append('/'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'u': sb.Append(ReadHex4()); break;                 // surrogate pairs arrive as two \u escapes
                default: throw ErrorAt(_i - 2, "invalid escape '\\" + e + "'");
            }
        }
    }

    private char ReadHex4()
    {
        if (_i + 4 > _s.Length) throw ErrorAt(_i - 2, "truncated \\u escape");
        int value = 0;
        for (int k = 0; k < 4; k++)
        {
            char h = _s[_i + k];
            int digit = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (digit < 0) throw ErrorAt(_i + k, "invalid hex digit '" + h + "' in \\u escape");
            value = value * 16 + digit;
        }
        _i += 4;
        return (char)value;
    }

    // number = [ "-" ] int [ frac ] [ exp ];  int = "0" / digit1-9 *digit
    private JsonValue ReadNumber()
    {
        int start = _i;
        if (Peek() == '-') _i++;
        if (Peek() == '0') _i++;
        else if (IsDigit(Peek())) while (IsDigit(Peek())) _i++;
        else throw Error("expected a digit but found " + DescribeHere());
        if (Peek() == '.')
        {
            _i++;
            if (!IsDigit(Peek())) throw Error("expected a digit after '.' but found " + DescribeHere());
            while (IsDigit(Peek())) _i++;
        }
        if (Peek() == 'e' || Peek() == 'E')
        {
            _i++;
            if (Peek() == '+' || Peek() == '-') _i++;
            if (!IsDigit(Peek())) throw Error("expected a digit in the exponent but found " + DescribeHere());
            while (IsDigit(Peek())) _i++;
        }
        string raw = _s.Substring(start, _i - start);
        double value;
        try { value = double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture); } // grammar checked above
        catch (OverflowException) { value = raw[0] == '-' ? double.NegativeInfinity : double.PositiveInfinity; } // .NET Framework hosts
        return JsonValue.FromNumber(value, raw);
    }

    private void ReadLiteral(string literal)
    {
        if (string.CompareOrdinal(_s, _i, literal, 0, literal.Length) != 0)
            throw Error("expected a value but found " + DescribeHere());
        _i += literal.Length;
    }

    private void Enter()
    {
        if (++_depth > MaxDepth) throw Error("nesting deeper than " + MaxDepth.ToString(CultureInfo.InvariantCulture) + " levels");
    }

    private void Expect(char c)
    {
        if (Peek() != c) throw Error("expected '" + c + "' but found " + DescribeHere());
        _i++;
    }

    private void SkipWhitespace()
    {
        while (_i < _s.Length && (_s[_i] == ' ' || _s[_i] == '\t' || _s[_i] == '\n' || _s[_i] == '\r')) _i++;
    }

    private char Peek() => _i < _s.Length ? _s[_i] : '\0';

    private static bool IsDigit(char c) => c >= '0' && c <= '9';

    private string DescribeHere()
    {
        if (_i >= _s.Length) return "the end of the file";
        char c = _s[_i];
        return c < 0x20 ? "U+" + ((int)c).ToString("X4", CultureInfo.InvariantCulture) : "'" + c + "'";
    }

    private JsonParseException Error(string message) => ErrorAt(_i, message);

    private JsonParseException ErrorAt(int offset, string message)
    {
        int line = 1, column = 1;
        for (int k = 0; k < offset && k < _s.Length; k++)
        {
            if (_s[k] == '\n') { line++; column = 1; }
            else column++;
        }
        return new JsonParseException(message, offset, line, column);
    }
}
