package capture

import (
	"bufio"
	"errors"
	"io"
)

// MaxLineBytes is the longest transcript line that is read; a longer one (a
// huge tool result) is skipped without being held in memory.
const MaxLineBytes = 16 << 20

// readBufferBytes is the reader's buffer; a line longer than this is gathered
// from several reads.
const readBufferBytes = 256 << 10

// lineReader yields the complete lines of a transcript from a given offset.
// A last line without its newline is never yielded: it is still being
// written, and is read once it is complete.
type lineReader struct {
	r *bufio.Reader
	// offset is where the next unread line starts: just after the newline of
	// the last line yielded or skipped.
	offset int64
	// line is the number of complete lines before offset.
	line int64
	max  int
	acc  []byte
}

// newLineReader reads r, whose first byte is at offset in the file, line
// being the number of lines before it. max is the longest line yielded and
// bufSize the size of the read buffer (readBufferBytes but in tests).
func newLineReader(r io.Reader, offset, line int64, max, bufSize int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, bufSize), offset: offset, line: line, max: max}
}

// next returns the next complete line without its newline; the slice is
// valid until the following call. tooLarge is set, and the line nil, for a
// line longer than max, which was read past but not kept. io.EOF means no
// complete line is left; any bytes after offset are a partial line.
func (lr *lineReader) next() (line []byte, tooLarge bool, err error) {
	lr.acc = lr.acc[:0]
	var n int64
	skipping := false
	for {
		frag, err := lr.r.ReadSlice('\n')
		n += int64(len(frag))
		switch {
		case err == nil:
			lr.offset += n
			lr.line++
			if skipping || len(lr.acc)+len(frag)-1 > lr.max {
				return nil, true, nil
			}
			if len(lr.acc) == 0 {
				return frag[:len(frag)-1], false, nil
			}
			lr.acc = append(lr.acc, frag...)
			return lr.acc[:len(lr.acc)-1], false, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if !skipping && len(lr.acc)+len(frag) > lr.max {
				skipping = true
				lr.acc = lr.acc[:0]
			}
			if !skipping {
				lr.acc = append(lr.acc, frag...)
			}
		default:
			// A partial line stays unread; drop what was gathered of it, so
			// that a huge partial line does not stay in memory.
			if cap(lr.acc) > readBufferBytes {
				lr.acc = nil
			}
			return nil, false, err
		}
	}
}
