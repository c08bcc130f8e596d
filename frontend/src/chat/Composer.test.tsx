import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, test, vi } from 'vitest';

import { Composer } from './Composer';

describe('Composer', () => {
  test('Enter sends the trimmed text; Shift+Enter adds a line', async () => {
    const onSend = vi.fn();
    render(<Composer onSend={onSend} />);
    const box = screen.getByRole('textbox', { name: 'Message' });
    await userEvent.type(box, '  Tell Luca{Shift>}{Enter}{/Shift}table 5  ');
    expect(onSend).not.toHaveBeenCalled();
    expect(box).toHaveValue('  Tell Luca\ntable 5  ');
    await userEvent.keyboard('{Enter}');
    expect(onSend).toHaveBeenCalledExactlyOnceWith('Tell Luca\ntable 5');
    expect(box).toHaveValue('');
    expect(box).toHaveFocus();
  });

  test('blank text is not sent and the send button is disabled', async () => {
    const onSend = vi.fn();
    render(<Composer onSend={onSend} />);
    await userEvent.type(screen.getByRole('textbox', { name: 'Message' }), '   {Enter}');
    expect(onSend).not.toHaveBeenCalled();
    expect(screen.getByRole('button', { name: 'Send' })).toBeDisabled();
  });

  test('the send button sends too', async () => {
    const onSend = vi.fn();
    render(<Composer onSend={onSend} />);
    await userEvent.type(screen.getByRole('textbox', { name: 'Message' }), 'Hello');
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect(onSend).toHaveBeenCalledWith('Hello');
  });
});
