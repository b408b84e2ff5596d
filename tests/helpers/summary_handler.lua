-- busted output handler: busted's usual terminal output (utfTerminal on a terminal,
-- plainTerminal otherwise, as busted picks them), then one machine-readable closing line
--     busted: N passed, M failed, P pending
-- where errors (a spec that fails to load, an error outside an `it`) count as failed.
-- `make test` adds that line to the C tests' counts.  (busted's `-o json` prints nothing when
-- a test is pending, busted issue 729, hence this handler.)
return function(options)
  local busted = require 'busted'
  local term = require 'term'

  local isatty = io.type(io.stdout) == 'file' and term.isatty(io.stdout)
  local base = require('busted.outputHandlers.' .. (isatty and 'utfTerminal' or 'plainTerminal'))
  local handler = base(options)

  -- subscribed after the terminal handler, so this line comes after its report
  busted.subscribe({ 'suite', 'end' }, function()
    io.write(string.format('busted: %d passed, %d failed, %d pending\n',
      handler.successesCount, handler.failuresCount + handler.errorsCount,
      handler.pendingsCount))
    io.flush()
    return nil, true
  end)

  return handler
end
